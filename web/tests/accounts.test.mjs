// Accounts in the browser (issue 15), against the real server: registration by invitation
// (the first account needs none, an invitation link fills the form and leaves the address bar,
// a used invitation is refused with the server's words), a closed server, the IP rule refusing
// a registration, a password reset link (then logging in still needs the key file), "Forgot
// password?" without email and with it (mailed to an SMTP server of the test's own), and
// deleting an account (the peer sees the conversation as deleted, the account's messages
// gone, and cannot write to it).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { BIN, launchBrowser, openPage, screenshot, skipReason, startServer } from './lib/harness.mjs';
import { PASSPHRASE, PASSWORD, composer, contact, login, menu, message, openConversation, openRegister, register, sendText, submitRegistration } from './lib/ui.mjs';

const run = promisify(execFile);
const skip = skipReason();
const servers = [];
let browser;

// Refused requests are logged by Chromium; the tests expect them where they cause them.
const HTTP_4XX = /Failed to load resource: the server responded with a status of 4\d\d/;
const NEW_PASSWORD = 'a brand new passphrase 42';
const RESET_DONE = 'Password changed. Your keys did not change: to read your history on a new browser you still need your key file.';

before(async () => {
  if (skip) return;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const server of servers) await server.close();
});

async function serve(args, options = {}) {
  const server = await startServer({ args, ...options });
  servers.push(server);
  return server;
}

/** Runs `securechat admin … --json` beside the running server (on its data) and returns the code it made. */
async function admin(server, ...args) {
  const { stdout } = await run(BIN, ['admin', ...args, '--json', '--data-dir', server.dataDir], { env: { ...process.env, ...server.env } });
  const { code } = JSON.parse(stdout.trim().split('\n').at(-1));
  assert.ok(code, `admin ${args.join(' ')} printed no code:\n${stdout}`);
  return code;
}

/**
 * A minimal SMTP server of the test's own on loopback that takes every message (no TLS, no
 * auth): { port, mails (the DATA of each, as text), next() (the next mail), close() }.
 */
async function smtpSink() {
  const mails = [];
  const waiting = [];
  const server = createServer((socket) => {
    let buffered = '';
    let body = null;
    socket.write('220 sink.test ESMTP\r\n');
    socket.on('data', (chunk) => {
      buffered += chunk;
      for (let end; (end = buffered.indexOf('\r\n')) >= 0;) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (body !== null) {
          if (line !== '.') {
            body.push(line.startsWith('.') ? line.slice(1) : line);
            continue;
          }
          const mail = body.join('\n');
          body = null;
          mails.push(mail);
          waiting.shift()?.(mail);
          socket.write('250 2.0.0 queued\r\n');
        } else if (/^(EHLO|HELO)/i.test(line)) {
          socket.write('250 sink.test\r\n');
        } else if (/^DATA/i.test(line)) {
          body = [];
          socket.write('354 end with <CRLF>.<CRLF>\r\n');
        } else if (/^QUIT/i.test(line)) {
          socket.end('221 2.0.0 bye\r\n');
        } else {
          socket.write('250 2.0.0 ok\r\n');
        }
      }
    });
    socket.on('error', () => {});
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: server.address().port,
    mails,
    next: () => new Promise((ok) => waiting.push(ok)),
    close: () => new Promise((ok) => server.close(ok)),
  };
}

/** The form's own message (an alert kept beside the form, not a toast). */
const formAlert = (page) => page.locator('form .form-msg[role="alert"]');

function assertClean(...pages) {
  for (const page of pages) assert.deepEqual(page.problems, [], 'console errors or CSP violations');
}

let invited;
let ann;
let ben;
let benKeyFile;
let cy;

test('invite mode: the first account needs no invitation; an invitation link registers; a used one is refused', { skip }, async () => {
  invited = await serve([], { registration: 'invite' });

  // The very first account of an empty server registers without an invitation.
  ann = await openPage(browser, invited.url);
  await openRegister(ann);
  await ann.getByLabel('Invitation code (optional)').waitFor();
  await ann.getByText('the first one needs no invitation').waitFor();
  await register(ann, 'ann');

  // Afterwards an invitation is needed: the form asks for it before anything is sent…
  const stranger = await openPage(browser, invited.url, { allow: [HTTP_4XX] });
  await openRegister(stranger);
  const codeField = stranger.getByLabel('Invitation code', { exact: true });
  await codeField.waitFor();
  await submitRegistration(stranger, 'stranger');
  await stranger.getByText('Enter the invitation code you received.').waitFor();
  assert.equal(await codeField.getAttribute('aria-invalid'), 'true');
  // …and a made-up code is refused by the server, which says so.
  await codeField.fill('not-a-real-invitation');
  await stranger.getByRole('button', { name: 'Create account' }).click();
  const refusal = stranger.locator('.field-msg.error').filter({ hasText: /invitation code is not valid/ });
  await refusal.waitFor();
  await screenshot(stranger, 'accounts-01-register-invite-refused');

  // An invitation link opens the form with the code filled in, and leaves the address bar.
  const code = await admin(invited, 'invite');
  ben = await openPage(browser, invited.url);
  await openRegister(ben, `/#invite=${encodeURIComponent(code)}`);
  assert.equal(new URL(ben.url()).hash, '', 'the invitation code is gone from the address bar');
  assert.equal(await ben.evaluate(() => location.href.includes('invite')), false);
  assert.equal(await ben.getByLabel('Invitation code', { exact: true }).inputValue(), code);
  await screenshot(ben, 'accounts-02-register-from-invitation');
  // (register() opens the same link again, and goes on to the key file.)
  benKeyFile = (await register(ben, 'ben', { link: `/#invite=${encodeURIComponent(code)}` })).keyFile;
  await contact(ben, 'ann').waitFor();

  // The same link again: the server refuses the used invitation and the page says so, and
  // keeps saying it (it is no toast).
  await stranger.goto(`/#invite=${encodeURIComponent(code)}`);
  await stranger.getByRole('heading', { name: 'Create your account' }).waitFor();
  await submitRegistration(stranger, 'stranger');
  const used = stranger.locator('.field-msg.error');
  await used.filter({ hasText: /used/i }).waitFor();
  await new Promise((r) => setTimeout(r, 4500));
  assert.match(await used.innerText(), /used/i, 'the refusal stays beside the form');
  await stranger.getByRole('heading', { name: 'Create your account' }).waitFor();
  assertClean(ann, ben, stranger);
  await stranger.context().close();

  // A second invitation for a third user (who never writes to ben).
  cy = await openPage(browser, invited.url);
  await register(cy, 'cyd', { link: `/#invite=${encodeURIComponent(await admin(invited, 'invite'))}` });
  await contact(cy, 'ben').waitFor();
});

test('a closed server says so, and a refusal from the server is shown as it says it', { skip }, async () => {
  const closed = await serve([], { registration: 'closed' });
  const page = await openPage(browser, closed.url, { allow: [HTTP_4XX] });
  await openRegister(page);
  await page.getByText('Registration is closed on this server. Ask its operator for an account.').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Create account' }).count(), 0, 'no form to fill in vain');
  await screenshot(page, 'accounts-03-register-closed');
  // An invitation link on a closed server: closed all the same.
  await openRegister(page, '/#invite=whatever');
  await page.getByText('Registration is closed on this server.').waitFor();

  // A page that still believes the server is open (the operator closed it since): the
  // server's refusal appears beside the form, in its own words.
  await page.route('**/api/v1/server', async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, json: { ...(await response.json()), registration: 'open' } });
  });
  await openRegister(page);
  await submitRegistration(page, 'latecomer');
  await formAlert(page).filter({ hasText: /closed/i }).waitFor();
  assert.match(await formAlert(page).innerText(), /operator/);
  assertClean(page);
  await page.context().close();
});

test('the IP rule refuses a registration before any account is made, and says why', { skip }, async () => {
  // No network is exempt here: every browser comes from 127.0.0.1.
  const strict = await serve(['--ip-rule-refuse-users-per-ip', '3'], { ipAllow: false });
  const one = await openPage(browser, strict.url);
  const two = await openPage(browser, strict.url);
  await register(one, 'uno');
  await register(two, 'dos');
  const three = await openPage(browser, strict.url, { allow: [HTTP_4XX] });
  await openRegister(three);
  await submitRegistration(three, 'tres');
  const refusal = formAlert(three);
  await refusal.filter({ hasText: /refused/i }).waitFor();
  const text = await refusal.innerText();
  assert.match(text, /signed in from this address/);
  await screenshot(three, 'accounts-04-register-ip-refused');
  await new Promise((r) => setTimeout(r, 4500));
  assert.equal(await refusal.innerText(), text, 'the refusal stays beside the form');
  assert.equal(await three.locator('#toasts .toast').count(), 0);
  // Nothing was made: the others do not see a "tres".
  await one.reload();
  await contact(one, 'dos').waitFor();
  assert.equal(await contact(one, 'tres').count(), 0);
  assertClean(one, two, three);
  for (const page of [one, two, three]) await page.context().close();
});

test('a reset link sets a new password; logging in afterwards still needs the key file', { skip }, async () => {
  const code = await admin(invited, 'reset-password', 'ben');
  const fresh = await openPage(browser, invited.url, { allow: [HTTP_4XX] });
  await fresh.goto(`/#reset=${encodeURIComponent(code)}`);
  await fresh.getByRole('heading', { name: 'Choose a new password' }).waitFor();
  assert.equal(new URL(fresh.url()).hash, '', 'the reset code is gone from the address bar');
  // The strength meter is there, and refuses a very weak password before anything is sent.
  await fresh.getByLabel('New password', { exact: true }).fill('password123');
  await fresh.getByText('Password strength:').waitFor();
  await fresh.getByLabel('Confirm new password').fill('password123');
  await fresh.getByRole('button', { name: 'Set new password' }).click();
  await fresh.getByText('This password is too easy to guess.').waitFor();
  await fresh.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await fresh.getByLabel('Confirm new password').fill(NEW_PASSWORD);
  await screenshot(fresh, 'accounts-05-reset-password');
  await fresh.getByRole('button', { name: 'Set new password' }).click();

  // Back on the login screen, with what changed and what did not.
  await fresh.getByRole('heading', { name: 'Log in' }).waitFor();
  await fresh.getByText(RESET_DONE).waitFor();
  await screenshot(fresh, 'accounts-06-reset-done');

  // Ben's other browser was logged out by the reset, and says why.
  await ben.getByRole('heading', { name: 'Log in' }).waitFor();
  await ben.getByText('Your session was ended: the password of this account was reset.').waitFor();

  // The old password no longer works, the new one does, and this browser has no keys: the
  // key file is needed, and brings the conversation back.
  await login(fresh, 'ben', PASSWORD);
  await fresh.getByText('Wrong username, email or password.').waitFor();
  await login(fresh, 'ben', NEW_PASSWORD);
  await fresh.getByRole('heading', { name: 'Import your keys' }).waitFor();
  await fresh.getByLabel('Key file').setInputFiles({ name: 'securechat-ben.key.json', mimeType: 'application/json', buffer: Buffer.from(benKeyFile) });
  await fresh.getByLabel('Passphrase').fill(PASSPHRASE);
  await fresh.getByRole('button', { name: 'Import keys and continue' }).click();
  await contact(fresh, 'ann').waitFor();

  // The link is used up: a second try says so.
  const again = await openPage(browser, invited.url, { allow: [HTTP_4XX] });
  await again.goto(`/#reset=${encodeURIComponent(code)}`);
  await again.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await again.getByLabel('Confirm new password').fill(NEW_PASSWORD);
  await again.getByRole('button', { name: 'Set new password' }).click();
  await formAlert(again).filter({ hasText: /used/i }).waitFor();
  assertClean(fresh, again);
  await fresh.context().close();
  await again.context().close();

  // Ben's first browser still holds his keys: logging in there goes straight to the chat.
  await login(ben, 'ben', NEW_PASSWORD);
  await contact(ben, 'ann').waitFor();
});

test('"Forgot password?" on a server without email says to ask the operator', { skip }, async () => {
  const page = await openPage(browser, invited.url);
  await page.goto('/');
  await page.getByRole('button', { name: 'Forgot password?' }).click();
  await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
  await page.getByText('Ask its operator for a password reset link').waitFor();
  assert.equal(await page.getByLabel('Username or email').count(), 0, 'no form for an email that cannot be sent');
  await screenshot(page, 'accounts-07-forgot-password-operator');
  await page.getByRole('button', { name: 'Back to log in' }).click();
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  assertClean(page);
  await page.context().close();
});

test('"Forgot password?" with email: a reset link is mailed, and opening it sets a new password', { skip }, async () => {
  const sink = await smtpSink();
  try {
    const mailing = await serve([
      '--smtp-url', `smtp://127.0.0.1:${sink.port}`,
      '--smtp-from', 'securechat <chat@example.test>',
      '--public-url', 'https://chat.example.test',
    ]);
    const dee = await openPage(browser, mailing.url);
    await register(dee, 'dee');
    await dee.context().close();

    const page = await openPage(browser, mailing.url, { allow: [HTTP_4XX] });
    await page.goto('/');
    await page.getByRole('button', { name: 'Forgot password?' }).click();
    // An account that does not exist gets the same answer, and no mail.
    await page.getByLabel('Username or email').fill('nobody-here');
    await page.getByRole('button', { name: 'Email me a reset link' }).click();
    await page.getByText('If that account exists, an email with a reset link is on its way.').waitFor();
    await page.getByRole('button', { name: 'Back to log in' }).click();
    await page.getByRole('button', { name: 'Forgot password?' }).click();
    const mailed = sink.next();
    await page.getByLabel('Username or email').fill('dee@example.org');
    await screenshot(page, 'accounts-08-forgot-password-email');
    await page.getByRole('button', { name: 'Email me a reset link' }).click();
    await page.getByText('If that account exists, an email with a reset link is on its way.').waitFor();
    const mail = await mailed;
    assert.equal(sink.mails.length, 1, 'one mail, for the account that exists');
    assert.match(mail, /^To: .*dee@example\.org/m);
    const link = /https:\/\/chat\.example\.test\/#reset=([A-Za-z0-9_-]+)/.exec(mail);
    assert.ok(link, `the mail holds a reset link:\n${mail}`);

    await page.goto(`/#reset=${link[1]}`);
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('Confirm new password').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.getByText(RESET_DONE).waitFor();
    await login(page, 'dee', NEW_PASSWORD);
    await page.getByRole('heading', { name: 'Import your keys' }).waitFor();
    assertClean(page);
    await page.context().close();
  } finally {
    await sink.close();
  }
});

test('deleting an account: its messages go for the peer, who sees the account deleted and cannot write', { skip }, async () => {
  await ann.reload();
  await openConversation(ann, 'ben');
  await openConversation(ben, 'ann');
  await sendText(ann, 'hello ben, from ann');
  await message(ben, 'hello ben, from ann').waitFor();
  await sendText(ben, 'hi ann, ben here');
  await sendText(ben, 'and a second one from ben');
  await message(ann, 'and a second one from ben').waitFor();

  // The dialog says what happens and wants the password (a wrong one is refused first).
  ben.allowErrors.push(HTTP_4XX);
  await menu(ben, 'Delete account');
  const dialog = ben.getByRole('dialog', { name: 'Delete your account' });
  await dialog.getByText('removes every message you sent').waitFor();
  await dialog.getByText('This cannot be undone.').waitFor();
  await screenshot(ben, 'accounts-09-delete-account');
  await dialog.getByLabel('Password').fill('not the password at all');
  await dialog.getByRole('button', { name: 'Delete my account' }).click();
  await dialog.getByText('This is not your password.').waitFor();
  await dialog.getByLabel('Password').fill(NEW_PASSWORD);
  await dialog.getByRole('button', { name: 'Delete my account' }).click();

  // Ben: back at the login screen, told so, and his keys are gone from this browser.
  await ben.getByRole('heading', { name: 'Log in' }).waitFor();
  await ben.getByText('Your account was deleted. Its keys were removed from this browser.').waitFor();
  // (This browser only ever held ben's account.)
  const kept = await ben.evaluate(() => new Promise((ok, fail) => {
    const req = indexedDB.open('securechat');
    req.onerror = () => fail(req.error);
    req.onsuccess = () => {
      const read = req.result.transaction(['keys', 'state'], 'readonly');
      const keys = read.objectStore('keys').count();
      const state = read.objectStore('state').count();
      read.oncomplete = () => ok({ keys: keys.result, state: state.result });
    };
  }));
  assert.deepEqual(kept, { keys: 0, state: 0 }, "ben's keys and state are no longer in this browser");
  await login(ben, 'ben', NEW_PASSWORD);
  await formAlert(ben).filter({ hasText: 'Wrong username, email or password.' }).waitFor();
  assert.equal(await ben.getByRole('heading', { name: 'Log in' }).count(), 1, 'a deleted account cannot log in');

  // Ann, live: ben's messages are gone, hers stay, and the conversation says ben is deleted.
  await ann.getByText('This account was deleted.').waitFor();
  await message(ann, 'and a second one from ben').waitFor({ state: 'detached' });
  assert.equal(await message(ann, 'hi ann, ben here').count(), 0);
  await message(ann, 'hello ben, from ann').waitFor();
  assert.equal(await composer(ann).isDisabled(), true, 'no writing to a deleted account');
  assert.equal(await ann.getByRole('button', { name: 'Send', exact: true }).isDisabled(), true);
  await screenshot(ann, 'accounts-10-peer-deleted');

  // After a reload too; ben stays listed for ann (their conversation), marked as deleted…
  await ann.reload();
  await contact(ann, 'ben').waitFor();
  await openConversation(ann, 'ben');
  await ann.getByText('This account was deleted.').waitFor();
  await message(ann, 'hello ben, from ann').waitFor();
  assert.equal(await message(ann, 'from ben').count(), 0);
  assert.equal(await composer(ann).isDisabled(), true);
  // …but is not offered to someone who never wrote to him.
  await cy.reload();
  await contact(cy, 'ann').waitFor();
  assert.equal(await contact(cy, 'ben').count(), 0, 'a deleted account is not offered as a new contact');
  assertClean(ann, ben, cy);
});
