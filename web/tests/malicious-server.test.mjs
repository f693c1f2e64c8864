// What a malicious server can make the browser show. Bob's browser talks to the real server
// through Playwright's routing, which plays the malicious server: it records what the server
// sends and rewrites or injects WebSocket frames and history responses. Each attack must be
// refused by the client (docs/PROTOCOL.md §8.3, §8.4).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, skipReason, startServer } from './lib/harness.mjs';
import { log, message, openConversation, register, sendText } from './lib/ui.mjs';

const skip = skipReason();
let server;
let browser;
let alice;
let bob;
// Bob's traffic: every server frame seen, a rewrite applied to frames and history items
// before the page sees them, and the routed socket to inject frames.
const seen = [];
let rewriteFrame = (f) => f;
let rewriteHistory = (page) => page;
let bobSocket = null;

// The expiry bound of docs/PROTOCOL.md §8.4: sent_at + expires_in_ms + 5 minutes.
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const HOUR = 60 * 60 * 1000;

const headerOf = (envelope) => JSON.parse(Buffer.from(envelope.h, 'base64url').toString('utf8'));

async function bobPage() {
  const page = await openPage(browser, server.url);
  await page.routeWebSocket(/\/api\/v1\/ws$/, (ws) => {
    const upstream = ws.connectToServer();
    bobSocket = ws;
    ws.onMessage((m) => upstream.send(m));
    upstream.onMessage((m) => {
      const frame = JSON.parse(m);
      seen.push(frame);
      ws.send(JSON.stringify(rewriteFrame(frame)));
    });
    ws.onClose((code, reason) => upstream.close({ code, reason }));
    upstream.onClose((code, reason) => ws.close({ code, reason }));
  });
  await page.route(/\/api\/v1\/conversations\/[^/]+\/messages/, async (route) => {
    const response = await route.fetch();
    const json = await response.json();
    await route.fulfill({ response, json: rewriteHistory(json) });
  });
  return page;
}

/** Waits until Bob's browser has processed every frame before this point. */
async function roundTrip(text) {
  await sendText(alice, text);
  await message(bob, text).waitFor();
}

/** The server's `message` frames to Bob so far. */
function messageFrames() {
  return seen.filter((f) => f.type === 'message');
}

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await launchBrowser();
  alice = await openPage(browser, server.url);
  bob = await bobPage();
  await register(alice, 'alice');
  await register(bob, 'bob');
  await openConversation(alice, 'bob');
  await openConversation(bob, 'alice');
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('an old tombstone replayed against another message id deletes nothing', { skip }, async () => {
  await sendText(alice, 'delete this one');
  await message(bob, 'delete this one').waitFor();
  await sendText(alice, 'keep this one');
  await message(bob, 'keep this one').waitFor();
  await sendText(bob, 'and my own one');
  await message(alice, 'and my own one').waitFor();
  const kept = messageFrames().at(-1);
  const keptId = headerOf(kept.envelope).msg_id;
  const own = seen.filter((f) => f.type === 'ack').at(-1).msg_id;

  const deleted = message(alice, 'delete this one');
  await deleted.hover();
  await deleted.getByRole('button', { name: 'Delete message for everyone' }).click();
  await alice.getByRole('dialog', { name: 'Delete this message?' }).getByRole('button', { name: 'Delete for everyone' }).click();
  await message(bob, 'delete this one').waitFor({ state: 'detached' });
  const tombstone = seen.filter((f) => f.type === 'deleted').at(-1);
  assert.equal(tombstone.reason, 'deleted');

  // The server replays Alice's tombstone, claiming it removes other messages.
  for (const target of [keptId, own]) bobSocket.send(JSON.stringify({ ...tombstone, msg_id: target }));
  await roundTrip('after the replay');
  assert.equal(await message(bob, 'keep this one').count(), 1, "a replayed tombstone must not delete another of the sender's messages");
  assert.equal(await message(bob, 'and my own one').count(), 1, "a replayed tombstone must not delete someone else's message");

  // Nor is either remembered as removed (which would hide it for good).
  await bob.reload();
  await openConversation(bob, 'alice');
  await message(bob, 'after the replay').waitFor();
  assert.equal(await message(bob, 'keep this one').count(), 1);
  assert.equal(await message(bob, 'and my own one').count(), 1);
  assert.equal(await message(bob, 'delete this one').count(), 0);
  assert.deepEqual(bob.problems, []);
});

test('a receive time moved later does not extend a self-destruct time past sent_at + ttl + skew', { skip }, async () => {
  // The server claims it received the message an hour after it was sent.
  const later = (item) => ({ ...item, ts: item.ts + HOUR, ...(item.expires_at ? { expires_at: item.expires_at + HOUR } : {}) });
  rewriteFrame = (f) => (f.type === 'message' && headerOf(f.envelope).expires_in_ms ? later(f) : f);
  rewriteHistory = (page) => ({ ...page, messages: page.messages.map((m) => (headerOf(m.envelope).expires_in_ms ? later(m) : m)) });
  try {
    await alice.getByRole('combobox', { name: 'Self-destruct timer' }).selectOption('3600000');
    await sendText(alice, 'gone within the hour');
    await alice.getByRole('combobox', { name: 'Self-destruct timer' }).selectOption('');
    const theirs = message(bob, 'gone within the hour');
    await theirs.waitFor();
    const header = headerOf(messageFrames().at(-1).envelope);
    assert.equal(header.expires_in_ms, HOUR);
    const bound = header.sent_at + header.expires_in_ms + CLOCK_SKEW_MS;
    const shown = Number(await theirs.locator('.countdown').getAttribute('data-expires'));
    assert.ok(shown > header.sent_at + HOUR - 1000, `live: a countdown to about an hour after sending, got ${shown}`);
    assert.ok(shown <= bound, `live: expires at ${new Date(shown).toISOString()}, after the signed bound ${new Date(bound).toISOString()}`);

    // The same from history.
    await bob.reload();
    await openConversation(bob, 'alice');
    await theirs.waitFor();
    const fromHistory = Number(await theirs.locator('.countdown').getAttribute('data-expires'));
    assert.ok(fromHistory > header.sent_at + HOUR - 1000, `history: a countdown to about an hour after sending, got ${fromHistory}`);
    assert.ok(fromHistory <= bound, `history: expires at ${new Date(fromHistory).toISOString()}, after the signed bound ${new Date(bound).toISOString()}`);
  } finally {
    rewriteFrame = (f) => f;
    rewriteHistory = (page) => page;
  }
  assert.deepEqual(bob.problems, []);
});

test('an envelope the server replays in history is shown once', { skip }, async () => {
  await roundTrip('said only once');
  // The server returns the same envelope again under other stream positions and times.
  rewriteHistory = (page) => {
    const copies = page.messages.filter((m) => m.seq).map((m, i) => ({ ...m, seq: m.seq + 100000 + i, ts: m.ts + 1000 }));
    return { ...page, messages: [...copies, ...page.messages] };
  };
  try {
    await bob.reload();
    await openConversation(bob, 'alice');
    await message(bob, 'said only once').first().waitFor();
    assert.equal(await message(bob, 'said only once').count(), 1);
  } finally {
    rewriteHistory = (page) => page;
  }
  // A replayed live frame of a shown message changes nothing either.
  const frame = messageFrames().at(-1);
  bobSocket.send(JSON.stringify({ ...frame, ts: frame.ts + 2000 }));
  await roundTrip('after the live replay');
  assert.equal(await message(bob, 'said only once').count(), 1);
  assert.equal(await log(bob).locator('.msg .text', { hasText: /^said only once$/ }).count(), 1);
  assert.deepEqual(bob.problems, []);
});

test('a removal the server calls an expiry deletes nothing that has not expired', { skip }, async () => {
  await sendText(alice, 'no timer on this one');
  await message(bob, 'no timer on this one').waitFor();
  const frame = messageFrames().at(-1);
  const id = headerOf(frame.envelope).msg_id;

  // The server claims the message expired, though it carries no self-destruct time.
  bobSocket.send(JSON.stringify({ type: 'deleted', msg_id: id, seq: frame.seq, from: frame.from, reason: 'expired' }));
  await roundTrip('after the fake expiry');
  assert.equal(await message(bob, 'no timer on this one').count(), 1, 'a message without a timer does not expire');

  await bob.reload();
  await openConversation(bob, 'alice');
  await message(bob, 'after the fake expiry').waitFor();
  assert.equal(await message(bob, 'no timer on this one').count(), 1, 'nor is it remembered as removed');
  assert.deepEqual(bob.problems, []);
});
