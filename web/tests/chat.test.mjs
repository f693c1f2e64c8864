// The whole chat experience in a real browser: two browser contexts as two users against the
// real server on loopback. Register, chat both ways, hidden messages, delete, self-destruct,
// files, safety numbers and key changes, going offline and back, key export and import in a
// fresh browser, password change ending other sessions, logout; phone width and dark theme.
// Every page must finish without console errors or CSP violations. Screenshots of every
// screen go to target/screenshots/.

import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { launchBrowser, openPage, screenshot, skipReason, startServer } from './lib/harness.mjs';
import { PASSPHRASE, PASSWORD, composer, contact, contactList, log, login, menu, message, openConversation, register, sendText } from './lib/ui.mjs';

const skip = skipReason();
let server;
let browser;
const pages = [];
let alice;
let bob;
let aliceKeyFile;

// Expected console errors: Chromium logs every refused request.
const HTTP_4XX = /Failed to load resource: the server responded with a status of 4\d\d/;
const NETWORK_DOWN = /ERR_CONNECTION_REFUSED|WebSocket connection to .* failed|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE/;

before(async () => {
  if (skip) return;
  // A short access-token lifetime: the whole suite runs across many silent refreshes and
  // WebSocket re-authentications.
  server = await startServer({ args: ['--access-ttl-secs', '40'] });
  browser = await launchBrowser();
});

let step = 0;
afterEach(async () => {
  if (!process.env.DEBUG_SHOTS) return;
  step += 1;
  for (const [i, page] of pages.entries()) await page.screenshot({ path: `/tmp/shots/after-${step}-${i}.png` }).catch(() => {});
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function newPage(options) {
  const page = await openPage(browser, server.url, options);
  pages.push(page);
  return page;
}

function assertClean(...list) {
  for (const page of list.length ? list : pages) assert.deepEqual(page.problems, [], 'console errors or CSP violations');
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

test('a browser without the needed WebCrypto algorithms is told so plainly', { skip }, async () => {
  const page = await newPage();
  await page.addInitScript(() => {
    const original = crypto.subtle.importKey.bind(crypto.subtle);
    crypto.subtle.importKey = (format, data, algorithm, ...rest) =>
      (algorithm?.name || algorithm) === 'Ed25519' ? Promise.reject(new DOMException('not supported', 'NotSupportedError')) : original(format, data, algorithm, ...rest);
  });
  await page.goto('/');
  await page.getByRole('heading', { name: 'This browser cannot run securechat' }).waitFor();
  assert.match(await page.getByRole('alert').innerText(), /Ed25519/);
  await screenshot(page, '00-unsupported-browser');
  assertClean(page);
  await page.context().close();
  pages.pop();
});

test('register two users: inline validation, fingerprint, key file before chatting', { skip }, async () => {
  alice = await newPage();
  await alice.goto('/');
  await alice.getByRole('heading', { name: 'Log in' }).waitFor();
  await screenshot(alice, '01-login');
  await alice.getByRole('button', { name: 'Create an account' }).click();
  await alice.getByLabel('Username').fill('Bad name!');
  await alice.getByLabel('Email').fill('not-an-email');
  await alice.getByLabel('Password', { exact: true }).fill('short');
  await alice.getByLabel('Confirm password').fill('different');
  await alice.getByRole('button', { name: 'Create account' }).click();
  await alice.getByText('Use 3 to 32 characters').waitFor();
  await alice.getByText('Enter a valid email address').waitFor();
  await alice.getByText('Use at least 10 characters.').waitFor();
  assert.equal(await alice.getByLabel('Username').getAttribute('aria-invalid'), 'true');
  await screenshot(alice, '02-register-validation');

  const registered = await register(alice, 'alice', { shots: true });
  aliceKeyFile = registered.keyFile;
  assert.equal(registered.suggestedName, 'securechat-alice.key.json');
  const parsed = JSON.parse(aliceKeyFile);
  assert.equal(parsed.format, 'securechat-keyfile');
  assert.equal(parsed.kdf.iter, 600000);
  assert.ok(!aliceKeyFile.includes(PASSPHRASE));

  bob = await newPage();
  await register(bob, 'bob');
  await contact(alice, 'bob').waitFor();
  await alice.reload();
  await contact(alice, 'bob').waitFor();

  // A taken username is reported on its field.
  const third = await newPage();
  third.allowErrors.push(HTTP_4XX);
  await third.goto('/');
  await third.getByRole('button', { name: 'Create an account' }).click();
  await third.getByLabel('Username').fill('alice');
  await third.getByLabel('Email').fill('other@example.org');
  await third.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await third.getByLabel('Confirm password').fill(PASSWORD);
  await third.getByRole('button', { name: 'Create account' }).click();
  await third.getByText('This username is taken.').waitFor();
  assertClean(third);
  await third.context().close();
  pages.splice(pages.indexOf(third), 1);
  assertClean();
});

test('chat both ways: live delivery, read status, unread count, text is never HTML', { skip }, async () => {
  await openConversation(alice, 'bob');
  await alice.getByText('No messages yet.').waitFor();
  await sendText(alice, 'Hello Bob! <img src=x onerror=alert(1)> <b>not bold</b>');
  await message(alice, 'Hello Bob!').getByRole('img', { name: 'Sent' }).waitFor();

  // Bob sees the unread count and the last message in his contact list, live.
  const bobsAlice = contact(bob, 'alice');
  await bobsAlice.locator('.badge', { hasText: '1' }).waitFor();
  assert.match(await bobsAlice.innerText(), /Hello Bob!/);
  assert.match(await bobsAlice.innerText(), /online/);
  await screenshot(bob, '05-contacts-unread');
  await openConversation(bob, 'alice');
  await message(bob, 'Hello Bob!').waitFor();
  assert.equal(await log(bob).locator('img, b').count(), 0, 'user text must be rendered as text');
  await bobsAlice.locator('.badge').waitFor({ state: 'detached' });

  // Alice's message turns "read" once Bob has it on screen.
  await message(alice, 'Hello Bob!').getByRole('img', { name: 'Read' }).waitFor();

  // Shift+Enter makes a new line, Enter sends.
  await composer(bob).fill('Hi Alice');
  await composer(bob).press('Shift+Enter');
  await composer(bob).pressSequentially('second line');
  await composer(bob).press('Enter');
  await message(alice, 'second line').waitFor();
  assert.equal(await message(alice, 'second line').locator('.text').innerText(), 'Hi Alice\nsecond line');
  assert.equal(await composer(bob).inputValue(), '');
  await log(alice).locator('.day', { hasText: 'Today' }).waitFor();
  await screenshot(alice, '06-conversation');
  assertClean();
});

test('hidden message: the recipient sees an eye; a click shows it, a second hides it', { skip }, async () => {
  await alice.getByRole('button', { name: 'Send as hidden message' }).click();
  assert.equal(await alice.getByRole('button', { name: 'Send as hidden message' }).getAttribute('aria-pressed'), 'true');
  await sendText(alice, 'the secret is 42');
  const hidden = log(bob).locator('.msg.theirs').last();
  const eye = hidden.getByRole('button', { name: 'Show hidden message' });
  await eye.waitFor();
  assert.equal(await log(bob).getByText('the secret is 42').count(), 0, 'hidden text must not be on screen');
  await screenshot(bob, '07-hidden-message');
  await eye.click();
  await log(bob).getByText('the secret is 42').waitFor();
  await screenshot(bob, '08-hidden-message-shown');
  await hidden.getByRole('button', { name: 'Hide message' }).click();
  await log(bob).getByText('the secret is 42').waitFor({ state: 'detached' });
  await hidden.getByRole('button', { name: 'Show hidden message' }).waitFor();
  assert.equal(await alice.getByRole('button', { name: 'Send as hidden message' }).getAttribute('aria-pressed'), 'false', 'the toggle resets after sending');
  assertClean();
});

test('delete for both sides, after confirmation, gone live on the other side', { skip }, async () => {
  await sendText(alice, 'this one will be deleted');
  await message(bob, 'this one will be deleted').waitFor();
  const mine = message(alice, 'this one will be deleted');
  await mine.getByRole('img', { name: /Sent|Read/ }).waitFor();
  await mine.hover();
  await mine.getByRole('button', { name: 'Delete message for everyone' }).click();
  const dialog = alice.getByRole('dialog', { name: 'Delete this message?' });
  await dialog.waitFor();
  await screenshot(alice, '09-delete-confirm');
  await dialog.getByRole('button', { name: 'Delete for everyone' }).click();
  await message(bob, 'this one will be deleted').waitFor({ state: 'detached' });
  await message(alice, 'this one will be deleted').waitFor({ state: 'detached' });
  await bob.reload();
  await openConversation(bob, 'alice');
  await message(bob, 'second line').waitFor();
  assert.equal(await message(bob, 'this one will be deleted').count(), 0, 'a deleted message stays gone after reload');
  assertClean();
});

test('self-destruct: a countdown, then the message vanishes on both sides', { skip }, async () => {
  await alice.getByRole('combobox', { name: 'Self-destruct timer' }).selectOption('5000');
  await sendText(alice, 'gone in five seconds');
  const theirs = message(bob, 'gone in five seconds');
  await theirs.waitFor();
  await theirs.locator('.countdown[aria-label^="disappears in"]').waitFor();
  await message(alice, 'gone in five seconds').locator('.countdown').waitFor();
  await screenshot(bob, '10-self-destruct');
  await theirs.waitFor({ state: 'detached', timeout: 15000 });
  await message(alice, 'gone in five seconds').waitFor({ state: 'detached', timeout: 15000 });
  await alice.getByRole('combobox', { name: 'Self-destruct timer' }).selectOption('');
  assertClean();
});

test('a file of a few MiB round-trips byte for byte, encrypted, with its name', { skip }, async () => {
  const bytes = randomBytes(3 * 1024 * 1024 + 12345);
  await alice.locator('.composer input[type=file]').setInputFiles({ name: 'holiday photos.bin', mimeType: 'application/octet-stream', buffer: bytes });
  const sent = message(alice, 'holiday photos.bin');
  await sent.getByRole('img', { name: /Sent|Read/ }).waitFor({ timeout: 30000 });
  const received = message(bob, 'holiday photos.bin');
  await received.waitFor();
  assert.match(await received.innerText(), /3\.0 MiB/);
  await screenshot(bob, '11-file-received');
  const download = bob.waitForEvent('download');
  await received.getByRole('button', { name: 'Download holiday photos.bin' }).click();
  const file = await download;
  assert.equal(file.suggestedFilename(), 'holiday photos.bin');
  const got = await readFile(await file.path());
  assert.equal(got.length, bytes.length);
  assert.equal(sha256(got), sha256(bytes));
  // The server only ever held ciphertext.
  assertClean();
});

test('safety numbers match on both sides; a changed key is flagged and blocks sending', { skip }, async () => {
  await alice.getByRole('button', { name: 'Safety number' }).click();
  const aDialog = alice.getByRole('dialog', { name: 'Safety number with bob' });
  await aDialog.locator('.safety-grid code').first().waitFor();
  const aliceNumber = await aDialog.locator('.safety-grid').innerText();
  await bob.getByRole('button', { name: 'Safety number' }).click();
  const bDialog = bob.getByRole('dialog', { name: 'Safety number with alice' });
  await bDialog.locator('.safety-grid code').first().waitFor();
  assert.equal(await bDialog.locator('.safety-grid').innerText(), aliceNumber);
  assert.equal(aliceNumber.replace(/\s/g, '').length, 60);
  await aDialog.getByRole('button', { name: 'Mark as verified' }).click();
  await aDialog.getByText('You verified bob.').waitFor();
  await screenshot(alice, '12-safety-number');
  await aDialog.getByRole('button', { name: 'Close' }).first().click();
  await bDialog.getByRole('button', { name: 'Close' }).first().click();

  // Make Alice's browser hold another pin for Bob, as if the server now served a new key.
  await alice.evaluate(async () => {
    const store = await import('/app/js/store.js');
    const b64 = await import('/app/js/crypto/b64.js');
    const { importIdentitySeed } = await import('/app/js/crypto/identity.js');
    const db = await new Promise((ok) => {
      const req = indexedDB.open('securechat');
      req.onsuccess = () => ok(req.result);
    });
    const states = await new Promise((ok) => {
      const req = db.transaction('state').objectStore('state').getAll();
      req.onsuccess = () => ok(req.result);
    });
    const state = states[0];
    const other = await importIdentitySeed(crypto.getRandomValues(new Uint8Array(32)));
    for (const pin of Object.values(state.pins)) pin.ik = b64.encode(other.publicKey);
    await store.saveState(state);
  });
  await alice.reload();
  await contact(alice, 'bob').locator('.tag', { hasText: 'Key changed' }).waitFor();
  await openConversation(alice, 'bob');
  const banner = alice.getByRole('alert').filter({ hasText: "bob's security key has changed" });
  await banner.waitFor();
  assert.match(await banner.innerText(), /You had verified bob/);
  await sendText(alice, 'must not go out');
  await alice.getByText('Sending to bob is paused').waitFor();
  await screenshot(alice, '13-key-changed');
  await banner.getByRole('button', { name: 'I verified the new number' }).click();
  await alice.getByRole('dialog', { name: 'Accept the new key?' }).getByRole('button', { name: 'Accept' }).click();
  await banner.waitFor({ state: 'detached' });
  await message(alice, 'second line').waitFor();
  await sendText(alice, 'back to normal');
  await message(bob, 'back to normal').waitFor();
  assertClean();
});

test('offline: the app says so, keeps what is typed, sends it after reconnecting', { skip }, async () => {
  for (const page of pages) page.allowErrors.push(NETWORK_DOWN, HTTP_4XX);
  await server.stop();
  const banner = alice.getByRole('status').filter({ hasText: 'You are offline' });
  await banner.waitFor({ timeout: 15000 });
  await sendText(alice, 'typed while offline');
  await message(alice, 'typed while offline').getByRole('img', { name: 'Sending' }).waitFor();
  await alice.getByText('1 message will be sent when the connection is back').waitFor();
  await screenshot(alice, '14-offline');
  await server.restart();
  await banner.waitFor({ state: 'detached', timeout: 40000 });
  await message(bob, 'typed while offline').waitFor({ timeout: 40000 });
  await message(alice, 'typed while offline').getByRole('img', { name: /Sent|Read/ }).waitFor();
  await sendText(bob, 'welcome back');
  await message(alice, 'welcome back').waitFor();
  assertClean();
  for (const page of pages) page.allowErrors = [];
});

test('key export in one browser and import in a fresh one reads the old history (login by email)', { skip }, async () => {
  const fresh = await newPage();
  await login(fresh, 'alice@example.org');
  await fresh.getByRole('heading', { name: 'Import your keys' }).waitFor();
  assert.match(await fresh.getByRole('note').innerText(), /cannot read your messages or send new ones/);
  await screenshot(fresh, '15-import-keys');
  await fresh.getByLabel('Key file').setInputFiles({ name: 'securechat-alice.key.json', mimeType: 'application/json', buffer: Buffer.from(aliceKeyFile) });
  await fresh.getByLabel('Passphrase').fill('not the passphrase');
  await fresh.getByRole('button', { name: 'Import keys and continue' }).click();
  await fresh.getByText('Wrong passphrase').waitFor();
  await fresh.getByLabel('Passphrase').fill(PASSPHRASE);
  await fresh.getByRole('button', { name: 'Import keys and continue' }).click();
  await contactList(fresh).waitFor();
  await openConversation(fresh, 'bob');
  await message(fresh, 'Hello Bob!').waitFor();
  await message(fresh, 'second line').waitFor();
  await message(fresh, 'typed while offline').waitFor();
  await message(fresh, 'holiday photos.bin').waitFor();
  // Hidden stays hidden in the other browser too.
  await log(fresh).getByRole('button', { name: 'Show hidden message' }).waitFor();
  await screenshot(fresh, '16-history-in-fresh-browser');

  // Manage keys shows the same fingerprint in both browsers.
  await menu(fresh, 'Manage keys');
  const keysDialog = fresh.getByRole('dialog', { name: 'Manage keys' });
  const fingerprint = await keysDialog.locator('.fingerprint').innerText();
  await screenshot(fresh, '17-manage-keys');
  await keysDialog.getByRole('button', { name: 'Close' }).first().click();
  await menu(alice, 'Manage keys');
  assert.equal(await alice.getByRole('dialog', { name: 'Manage keys' }).locator('.fingerprint').innerText(), fingerprint);
  await alice.getByRole('dialog', { name: 'Manage keys' }).getByRole('button', { name: 'Close' }).first().click();
  alice.fresh = fresh;
  assertClean();
});

test('rotating keys: new messages use the new key; the other browser catches up by importing', { skip }, async () => {
  const fresh = alice.fresh;
  await menu(fresh, 'Manage keys');
  const dialog = fresh.getByRole('dialog', { name: 'Manage keys' });
  await dialog.getByRole('button', { name: 'Rotate encryption key' }).click();
  await fresh.getByRole('dialog', { name: 'Rotate your encryption key?' }).getByRole('button', { name: 'Rotate' }).click();
  await dialog.locator('.tag', { hasText: 'Retired' }).waitFor();
  assert.equal(await dialog.locator('.tag', { hasText: 'Active' }).count(), 1);
  await dialog.getByRole('button', { name: 'Export key file' }).click();
  await dialog.getByLabel('Key file passphrase').fill(PASSPHRASE);
  await dialog.getByLabel('Confirm passphrase').fill(PASSPHRASE);
  const download = fresh.waitForEvent('download');
  await dialog.getByRole('button', { name: 'Download key file' }).click();
  const newKeyFile = await readFile(await (await download).path(), 'utf8');
  await dialog.getByRole('button', { name: 'Close' }).first().click();

  await bob.reload();
  await openConversation(bob, 'alice');
  await sendText(bob, 'to your new key');
  await message(fresh, 'to your new key').waitFor();
  // The first browser does not have the new key yet, and says so instead of showing garbage.
  await alice.getByText('encrypted to a key this browser does not have').waitFor();
  await menu(alice, 'Manage keys');
  const aliceDialog = alice.getByRole('dialog', { name: 'Manage keys' });
  await aliceDialog.getByRole('button', { name: 'Import key file' }).click();
  await aliceDialog.getByLabel('Key file', { exact: true }).setInputFiles({ name: 'k.json', mimeType: 'application/json', buffer: Buffer.from(newKeyFile) });
  await aliceDialog.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
  await aliceDialog.getByRole('button', { name: 'Import keys' }).click();
  await contactList(alice).waitFor();
  await openConversation(alice, 'bob');
  await message(alice, 'to your new key').waitFor();
  await message(alice, 'Hello Bob!').waitFor();
  assertClean();
});

test('changing the password ends the other sessions: they land on the login screen with a message', { skip }, async () => {
  const fresh = alice.fresh;
  alice.allowErrors.push(HTTP_4XX);
  await menu(fresh, 'Change password');
  const dialog = fresh.getByRole('dialog', { name: 'Change password' });
  await screenshot(fresh, '18-change-password');
  await dialog.getByLabel('Current password').fill(PASSWORD);
  await dialog.getByLabel('New password', { exact: true }).fill('an even better password');
  await dialog.getByLabel('Confirm new password').fill('an even better password');
  await dialog.getByRole('button', { name: 'Change password' }).click();
  await fresh.getByText('Password changed.').waitFor();
  await alice.getByRole('heading', { name: 'Log in' }).waitFor({ timeout: 15000 });
  await alice.getByText('Your session was ended').waitFor();
  await screenshot(alice, '19-session-ended');
  await login(alice, 'alice', 'an even better password');
  await contactList(alice).waitFor();
  await openConversation(alice, 'bob');
  await message(alice, 'to your new key').waitFor();
  alice.allowErrors = [];
  assertClean();
});

test('phone width and dark theme', { skip }, async () => {
  await bob.setViewportSize({ width: 360, height: 740 });
  await bob.emulateMedia({ colorScheme: 'light' });
  await bob.goto('/');
  await contactList(bob).waitFor();
  assert.equal(await bob.getByRole('main').count(), 0, 'one pane at a time on a phone');
  await screenshot(bob, '20-phone-contacts');
  await openConversation(bob, 'alice');
  await contactList(bob).waitFor({ state: 'hidden' });
  const width = await bob.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 360, `no horizontal scrolling at 360 px (got ${width})`);
  await screenshot(bob, '21-phone-conversation');
  await bob.getByRole('button', { name: 'Back to contacts' }).click();
  await contactList(bob).waitFor();
  await bob.emulateMedia({ colorScheme: 'dark' });
  await openConversation(bob, 'alice');
  await screenshot(bob, '22-phone-dark');
  await bob.setViewportSize({ width: 1280, height: 800 });
  await screenshot(bob, '23-desktop-dark');
  await bob.emulateMedia({ colorScheme: 'light' });
  assertClean();
});

test('log out: back to the login screen, and the session is gone', { skip }, async () => {
  await menu(bob, 'Log out');
  const dialog = bob.getByRole('dialog', { name: 'Log out' });
  await screenshot(bob, '24-logout');
  await dialog.getByRole('button', { name: 'Log out' }).click();
  await bob.getByRole('heading', { name: 'Log in' }).waitFor();
  await bob.getByText('You are logged out.').waitFor();
  await bob.reload();
  await bob.getByRole('heading', { name: 'Log in' }).waitFor();
  assertClean();
});
