// Interoperability with the Rust client: a message sent by the `securechat` CLI is read in
// the browser, and one sent in the browser is read by the CLI (both ways through the real
// server, each side running its own implementation of docs/PROTOCOL.md).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, launchBrowser, openPage, screenshot, skipReason, startServer } from './lib/harness.mjs';
import { PASSWORD, contact, log, login, message, openConversation, register, sendText } from './lib/ui.mjs';

const skip = skipReason();
let server;
let browser;
let configDir;

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await launchBrowser();
  configDir = mkdtempSync(join(tmpdir(), 'securechat-cli-'));
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

/** Runs the CLI as user carol; `input` goes to standard input. Resolves its stdout. */
function cli(args, input) {
  return new Promise((ok, fail) => {
    const child = execFile(BIN, [...args, '--server', server.url, '--config-dir', configDir, '--profile', 'carol'], { timeout: 60000 }, (error, stdout, stderr) => {
      if (error) fail(new Error(`securechat ${args[0]} failed: ${stderr || error.message}`));
      else ok(stdout);
    });
    child.stdin.end(input ?? '');
  });
}

test('a message from the Rust CLI is read in the browser, and the CLI reads the browser\'s answer', { skip }, async () => {
  const page = await openPage(browser, server.url);
  await register(page, 'dave');
  await cli(['register', '--username', 'carol', '--email', 'carol@example.org', '--password-stdin'], `${PASSWORD}\n`);
  await cli(['send', '--to', 'dave', 'Hello from the Rust CLI: grüße 👋']);

  await contact(page, 'carol').waitFor();
  await openConversation(page, 'carol');
  await message(page, 'Hello from the Rust CLI').waitFor();
  assert.equal(await message(page, 'Hello from the Rust CLI').locator('.text').innerText(), 'Hello from the Rust CLI: grüße 👋');

  await sendText(page, 'Hello back from the browser, ünïcödé');
  await message(page, 'Hello back from the browser').getByRole('img', { name: /Sent|Read/ }).waitFor();
  await page.getByRole('button', { name: 'Send as hidden message' }).click();
  await sendText(page, 'a hidden one');
  const hidden = log(page).locator('.msg.mine').last();
  await hidden.getByRole('button', { name: 'Show hidden message' }).waitFor();
  await hidden.getByRole('img', { name: /Sent|Read/ }).waitFor();
  await screenshot(page, '25-interop-with-cli');

  const history = await cli(['history', '--with', 'dave', '--json']);
  const lines = history.trim().split('\n').map((l) => JSON.parse(l));
  const texts = JSON.stringify(lines);
  assert.ok(texts.includes('Hello back from the browser, ünïcödé'), `the CLI read: ${history}`);
  assert.ok(texts.includes('Hello from the Rust CLI: grüße 👋'));
  assert.ok(texts.includes('a hidden one'));
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

/** Runs the CLI with a profile of its own. */
function cliAs(profile, args, input) {
  return new Promise((ok, fail) => {
    const child = execFile(BIN, [...args, '--server', server.url, '--config-dir', configDir, '--profile', profile], { timeout: 60000 }, (error, stdout, stderr) => {
      if (error) fail(new Error(`securechat ${args[0]} failed: ${stderr || error.message}`));
      else ok(stdout);
    });
    child.stdin.end(input ?? '');
  });
}

test('OPAQUE across implementations: the CLI\'s account logs in in the browser, the browser\'s with the CLI', { skip }, async () => {
  // Registered by the Rust client (a non-ASCII password: both sides use its UTF-8 bytes).
  const erinPassword = 'Crème brûlée, 密碼 и пароль 🔐';
  await cliAs('erin', ['register', '--username', 'erin', '--email', 'erin@example.org', '--password-stdin'], `${erinPassword}\n`);
  const page = await openPage(browser, server.url);
  const bodies = [];
  page.on('request', (r) => bodies.push(r.postData() || ''));
  await login(page, 'erin', erinPassword);
  // Logged in: this browser has no keys of erin's yet, so it asks for the key file.
  await page.getByRole('heading', { name: 'Import your keys' }).waitFor();
  const decoded = (b) => { try { return decodeURIComponent(b.replace(/\+/g, ' ')); } catch { return b; } };
  assert.ok(bodies.some((b) => decoded(b).includes('urn:securechat:grant-type:opaque')), 'an OPAQUE login');
  assert.ok(!bodies.some((b) => b.includes(erinPassword) || decoded(b).includes(erinPassword)), 'no request carried the password');
  await page.context().close();

  // Registered in the browser, logged in with the Rust client.
  const browserPage = await openPage(browser, server.url);
  await register(browserPage, 'fay');
  const out = await cliAs('fay', ['login', '--username', 'fay', '--password-stdin'], `${PASSWORD}\n`);
  assert.match(out, /Logged in as fay/);
  const wrong = await cliAs('fay2', ['login', '--username', 'fay', '--password-stdin'], 'not fay\'s password at all\n').catch((e) => e.message);
  assert.match(wrong, /wrong username or password/);
  assert.deepEqual(browserPage.problems, []);
  await browserPage.context().close();
});
