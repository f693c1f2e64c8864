// Password strength as the user types, at registration and at a password change: a meter
// and advice from a local estimate (nothing downloaded), and a very weak password (a common
// one, one built from the username, a keyboard run) refused before anything is sent.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, screenshot, skipReason, startServer } from './lib/harness.mjs';
import { PASSWORD, contactList, menu, register } from './lib/ui.mjs';

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

/** Requests the page makes to `path` (or a path it matches) with a method other than GET. */
function writesTo(page, path) {
  const seen = [];
  page.on('request', (r) => {
    const at = new URL(r.url()).pathname;
    if (r.method() !== 'GET' && (path instanceof RegExp ? path.test(at) : at === path)) seen.push(r.postDataJSON());
  });
  return seen;
}

test('registration shows the strength as the user types and refuses a very weak password before sending it', { skip }, async () => {
  const page = await openPage(browser, server.url);
  const foreign = [];
  page.on('request', (r) => new URL(r.url()).origin !== server.url && foreign.push(r.url()));
  const registrations = writesTo(page, '/api/v1/auth/register');
  // OPAQUE's first step (docs/PROTOCOL.md §18.2) is the first request a registration makes.
  const starts = writesTo(page, '/api/v1/auth/opaque/register/start');
  await page.goto('/');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill('carol');
  await page.getByLabel('Email').fill('carol@example.org');
  const password = page.getByLabel('Password', { exact: true });
  const meter = page.locator('.strength');
  assert.equal(await meter.isVisible(), false, 'no meter before anything is typed');

  for (const [typed, advice] of [
    ['password123', /most common passwords|digits or symbols added/],
    ['1234567890', /most common passwords/],
    ['qwertyuiop', /most common passwords/],
    ['carol12345', /username or email/],
    ['aaaaaaaaaaaa', /Repeated characters/],
  ]) {
    await password.fill(typed);
    await meter.getByText('Password strength: Very weak').waitFor();
    assert.match(await meter.innerText(), advice, typed);
  }
  await screenshot(page, '30-password-very-weak');

  // Submitting a very weak password shows why on the field and sends nothing.
  await password.fill('password123');
  await page.getByLabel('Confirm password').fill('password123');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('.field-msg.error', { hasText: 'This password is too easy to guess.' }).waitFor();
  assert.equal(await password.getAttribute('aria-invalid'), 'true');
  assert.deepEqual(registrations, [], 'a very weak password must not be sent');

  // One of the most common breached passwords that the meter rates higher: refused too (the
  // server, which never sees the password, refused these before OPAQUE).
  await password.fill('elizabeth1');
  await page.getByLabel('Confirm password').fill('elizabeth1');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('.field-msg.error', { hasText: 'one of the most common breached passwords' }).waitFor();
  // …and the length rule the server had: at least 10 characters.
  await password.fill('tR7#kq!2z');
  await page.getByLabel('Confirm password').fill('tR7#kq!2z');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('.field-msg.error', { hasText: 'Use at least 10 characters.' }).waitFor();
  assert.deepEqual([registrations, starts], [[], []], 'a refused password starts nothing');

  // The meter rises as the password gets better.
  await password.fill('hfkdjsurnq');
  await meter.getByText(/Password strength: (Weak|Fair)/).waitFor();
  await password.fill(PASSWORD);
  await meter.getByText('Password strength: Strong').waitFor();
  assert.equal(await meter.getAttribute('data-score'), '4');
  await screenshot(page, '31-password-strong');
  await page.getByLabel('Confirm password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Your keys are ready' }).waitFor({ timeout: 30000 });
  assert.equal(registrations.length, 1);
  assert.equal(starts.length, 1);
  assert.equal(registrations[0].password, undefined, 'the password is not sent');
  assert.match(registrations[0].opaque_record, /^[A-Za-z0-9_-]{256}$/, 'a 192-byte OPAQUE record instead');
  assert.deepEqual(foreign, [], 'nothing is fetched from another origin');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('changing the password shows the strength and refuses a very weak new password before sending it', { skip }, async () => {
  const page = await openPage(browser, server.url);
  await register(page, 'dave');
  await contactList(page).waitFor();
  const changes = writesTo(page, /^\/api\/v1\/auth\/(password|opaque\/)/);
  await menu(page, 'Change password');
  const dialog = page.getByRole('dialog', { name: 'Change password' });
  await dialog.getByLabel('Current password').fill(PASSWORD);
  const next = dialog.getByLabel('New password', { exact: true });
  await next.fill('dave123456');
  await dialog.locator('.strength').getByText('Password strength: Very weak').waitFor();
  assert.match(await dialog.locator('.strength').innerText(), /username or email/);
  await next.fill('iloveyou2024');
  await dialog.locator('.strength').getByText('Password strength: Very weak').waitFor();
  await dialog.getByLabel('Confirm new password').fill('iloveyou2024');
  await dialog.getByRole('button', { name: 'Change password' }).click();
  await dialog.locator('.field-msg.error', { hasText: 'This password is too easy to guess.' }).waitFor();
  assert.deepEqual(changes, [], 'a very weak password must not be sent');
  await screenshot(page, '32-password-change-very-weak');

  await next.fill('violet kettle under moonlight');
  await dialog.locator('.strength').getByText('Password strength: Strong').waitFor();
  await dialog.getByLabel('Confirm new password').fill('violet kettle under moonlight');
  await dialog.getByRole('button', { name: 'Change password' }).click();
  await dialog.waitFor({ state: 'detached' });
  // The current password proved with OPAQUE, then the new record: confirm, start, finish.
  assert.equal(changes.length, 3);
  assert.ok(changes[2].login_id && changes[2].credential_finalization && changes[2].registration_record);
  assert.ok(!JSON.stringify(changes).includes('violet kettle') && !JSON.stringify(changes).includes(PASSWORD), 'no password is sent');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
