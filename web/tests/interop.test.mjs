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
import { PASSWORD, contact, log, message, openConversation, register, sendText } from './lib/ui.mjs';

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
