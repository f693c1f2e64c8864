// The access token lives 8 s here: the app refreshes it silently from the HttpOnly cookie and
// re-authenticates its WebSocket, so chatting goes on across many token lifetimes without a
// reconnect, a console error or a trip to the login screen.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, skipReason, startServer } from './lib/harness.mjs';
import { contact, message, openConversation, register, sendText } from './lib/ui.mjs';

const skip = skipReason();
let server;
let browser;

before(async () => {
  if (skip) return;
  server = await startServer({ args: ['--access-ttl-secs', '8'] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('the access token refreshes silently and the socket stays authenticated', { skip }, async () => {
  const erin = await openPage(browser, server.url);
  const frank = await openPage(browser, server.url);
  await register(erin, 'erin');
  await register(frank, 'frank');
  await erin.reload();
  await openConversation(erin, 'frank');
  await openConversation(frank, 'erin');
  const refreshes = [];
  erin.on('response', (res) => res.url().endsWith('/api/v1/auth/token') && refreshes.push(res.status()));
  const sockets = [];
  erin.on('websocket', (ws) => sockets.push(ws.url()));
  for (let i = 1; i <= 3; i++) {
    await new Promise((r) => setTimeout(r, 8000));
    await sendText(frank, `message ${i} after ${8 * i} s`);
    await message(erin, `message ${i} after`).waitFor();
    await sendText(erin, `answer ${i}`);
    await message(frank, `answer ${i}`).waitFor();
  }
  assert.ok(refreshes.length >= 3, `expected silent refreshes, saw ${refreshes.length}`);
  assert.ok(refreshes.every((s) => s === 200));
  assert.deepEqual(sockets, [], 'the socket re-authenticated instead of reconnecting');
  assert.equal(await contact(erin, 'frank').count(), 1);
  assert.deepEqual(erin.problems, []);
  assert.deepEqual(frank.problems, []);
});
