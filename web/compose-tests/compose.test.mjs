// The browser client against the Docker Compose deployment (deploy/compose.yaml), through its
// nginx with the certificate made on first start: two people register with invitation links
// made by `securechat admin invite`, and chat. Run by scripts/compose-test, which starts the
// stack and passes SECURECHAT_COMPOSE_URL (nginx's https URL) and SECURECHAT_COMPOSE_INVITES
// (two invitation links, comma-separated); not part of web/run-tests.sh.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, screenshot } from '../tests/lib/harness.mjs';
import { contact, openConversation, message, register, sendText } from '../tests/lib/ui.mjs';

const url = process.env.SECURECHAT_COMPOSE_URL;
const invites = (process.env.SECURECHAT_COMPOSE_INVITES || '').split(',').filter(Boolean);
const skip = !url || invites.length < 2
  ? 'run by scripts/compose-test (SECURECHAT_COMPOSE_URL and two SECURECHAT_COMPOSE_INVITES)'
  : false;
let browser;

before(async () => {
  if (skip) return;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

test('through the Compose deployment: register by invitation, send and receive', { skip }, async () => {
  // The deployment's certificate is signed by the local CA it made on first start, which this
  // browser does not know; the page is still https (a secure context, so WebCrypto works).
  const options = { ignoreHTTPSErrors: true };
  const carol = await openPage(browser, url, options);
  const dave = await openPage(browser, url, options);
  await register(carol, 'carol', { link: invites[0] });
  await register(dave, 'dave', { link: invites[1] });
  assert.equal(await carol.evaluate(() => window.isSecureContext), true);

  await contact(carol, 'dave').waitFor();
  await openConversation(carol, 'dave');
  await sendText(carol, 'Hello Dave, through the Compose deployment');
  await openConversation(dave, 'carol');
  await message(dave, 'Hello Dave, through the Compose deployment').waitFor();
  await sendText(dave, 'Hi Carol, two nodes and nginx later');
  await message(carol, 'Hi Carol, two nodes and nginx later').waitFor();
  await screenshot(dave, 'compose-01-chat');
  // The page left the invitation out of the address bar once it was read.
  assert.doesNotMatch(carol.url(), /invite=/);
  for (const page of [carol, dave]) assert.deepEqual(page.problems, [], 'console errors or CSP violations');
});
