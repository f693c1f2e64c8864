// The page names the WebSocket protocol version it speaks in its auth frame, reads `ready`'s
// version, and ignores what a newer server may add: members it does not know and frames of a
// type it does not know. Bob's WebSocket goes through Playwright, which records his frames
// and adds to what the server sends.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, skipReason, startServer } from './lib/harness.mjs';
import { message, openConversation, register, sendText } from './lib/ui.mjs';

const skip = skipReason();
let server;
let browser;

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Relays the page's WebSockets, keeping what the page sent and the server's `ready`, and
 * making every server frame look like a newer server's: an extra member in each, and a frame
 * of an unknown type after each. */
async function asANewerServer(page) {
  const seen = { sent: [], ready: [] };
  await page.routeWebSocket(/\/api\/v1\/ws$/, (ws) => {
    const upstream = ws.connectToServer();
    ws.onMessage((data) => {
      seen.sent.push(JSON.parse(data));
      upstream.send(data);
    });
    upstream.onMessage((data) => {
      const frame = JSON.parse(data);
      if (frame.type === 'ready') seen.ready.push(frame);
      ws.send(JSON.stringify({ ...frame, added_later: { by: 'a newer server' } }));
      ws.send(JSON.stringify({ type: 'typing', user_id: frame.user_id ?? null }));
    });
  });
  return seen;
}

test('the page says its protocol version and ignores a newer server\'s additions', { skip }, async () => {
  const alice = await openPage(browser, server.url);
  const bob = await openPage(browser, server.url);
  const seen = await asANewerServer(bob);
  await register(alice, 'alice');
  await register(bob, 'bob');
  await openConversation(alice, 'bob');
  await openConversation(bob, 'alice');

  await sendText(alice, 'from an old friend');
  await message(bob, 'from an old friend').waitFor();
  await sendText(bob, 'read you');
  await message(alice, 'read you').waitFor();

  const auth = seen.sent.find((f) => f.type === 'auth');
  assert.ok(auth, 'an auth frame');
  assert.equal(auth.protocol, 3, 'the auth frame names protocol 3');
  assert.equal(seen.ready[0]?.protocol, 3, 'the server answers in protocol 3');
  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
});
