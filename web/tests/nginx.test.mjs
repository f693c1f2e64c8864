// The browser client through a real nginx with the operators' configuration
// (deploy/nginx/securechat-proxy.conf), on a port that is not 80 or 443: the page's origin
// then carries the port, and the browser's WebSocket passes the server's Origin check only
// because nginx forwards `Host $http_host` (with `$host` it would be refused with 403).
// Register, log out and in, send and receive, all with nginx's URL only. Skipped (one line)
// without nginx; under CI nginx is required.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, screenshot, skipReason, startServer } from './lib/harness.mjs';
import { nginxSkipReason, startNginx } from './lib/nginx.mjs';
import { contact, contactList, login, menu, message, openConversation, register, sendText } from './lib/ui.mjs';

const skip = skipReason() || nginxSkipReason();
let server;
let proxy;
let browser;

before(async () => {
  if (skip) return;
  // nginx connects from 127.0.0.1: the server believes the address it forwards.
  server = await startServer({ args: ['--trusted-proxies', '127.0.0.1/32'] });
  proxy = await startNginx(server.port);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await server?.close();
});

test('through nginx on a non-default port: register, log in, send and receive', { skip }, async () => {
  assert.notEqual(proxy.port, server.port);
  assert.ok(![80, 443].includes(proxy.port));
  const alice = await openPage(browser, proxy.url);
  const bob = await openPage(browser, proxy.url);
  await register(alice, 'alice');
  await register(bob, 'bob');

  // Bob logs out and back in (his keys stay in this browser).
  await menu(bob, 'Log out');
  await bob.getByRole('dialog', { name: 'Log out' }).getByRole('button', { name: 'Log out' }).click();
  await bob.getByRole('heading', { name: 'Log in' }).waitFor();
  await login(bob, 'bob');
  await contactList(bob).waitFor();

  await contact(alice, 'bob').waitFor();
  await openConversation(alice, 'bob');
  await sendText(alice, 'Hello Bob, through nginx');
  await openConversation(bob, 'alice');
  await message(bob, 'Hello Bob, through nginx').waitFor();
  // And live the other way, while Alice has the conversation open.
  await sendText(bob, 'Hi Alice, through nginx too');
  await message(alice, 'Hi Alice, through nginx too').waitFor();
  await screenshot(bob, 'nginx-01-chat');

  for (const page of [alice, bob]) assert.deepEqual(page.problems, [], 'console errors or CSP violations');
  // Everything went through nginx: the browsers' WebSockets were upgraded there (101), with
  // the port in the Host nginx passed on, and the server refused none. nginx logs a
  // WebSocket when it closes.
  await alice.context().close();
  await bob.context().close();
  const upgradesIn = (log) => log.split('\n').filter((l) => l.includes(' GET /api/v1/ws 101 '));
  for (let i = 0; i < 100 && upgradesIn(proxy.accessLog()).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  const log = proxy.accessLog();
  const upgrades = upgradesIn(log);
  assert.ok(upgrades.length >= 2, `fewer than two WebSocket upgrades in nginx's log:\n${log}`);
  for (const line of upgrades) assert.ok(line.endsWith(`host=127.0.0.1:${proxy.port}`), line);
  assert.doesNotMatch(server.logs(), /WebSocket refused/);
});
