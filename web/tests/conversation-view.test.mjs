// The conversation view in a real browser (issue 14): grouped messages with a time per group
// and day dividers, the "New messages" divider and "Jump to latest" while scrolled up (reading
// marks read), clickable links (http/https only, built as DOM), image thumbnails from object
// URLs, file names on a phone, the per-conversation self-destruct timer with its notices,
// "Delete for me" beside "Delete for everyone" with actions reachable on a touch screen, and
// unread counts and read marks on a new browser after importing the key file.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { launchBrowser, openPage, screenshot, skipReason, startServer } from './lib/harness.mjs';
import { PASSPHRASE, composer, contact, contactList, log, login, message, openConversation, register, sendText } from './lib/ui.mjs';


/** What `read` gives once it gives `expected`, or after 5 s what it gives then: for values the
 * page sets asynchronously (settings read from storage, a style transition), under load. */
async function settled(read, expected) {
  const deadline = Date.now() + 5000;
  let value = await read();
  while (value !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await read();
  }
  return value;
}

const skip = skipReason();
let server;
let browser;
const pages = [];
let alice;
let bob;
let bobKeyFile;

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await launchBrowser();
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

const scroller = (page) => page.locator('.conv .scroller');
const scrollToTop = (page) => scroller(page).evaluate((el) => { el.scrollTop = 0; });
const badge = (page, name) => contact(page, name).locator('.badge');

/** A small valid PNG (w×h, one colour), made here so the test needs no image file. */
function png(w, h, [r, g, b]) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => [r, g, b]).flat())]);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

test('register alice and bob', { skip }, async () => {
  alice = await newPage();
  await register(alice, 'alice');
  bob = await newPage();
  bobKeyFile = (await register(bob, 'bob')).keyFile;
  await contact(alice, 'bob').waitFor();
  await openConversation(alice, 'bob');
  await openConversation(bob, 'alice');
  assertClean();
});

test('consecutive messages from one side form a group with one time; day dividers', { skip }, async () => {
  for (const text of ['first of three', 'second of three', 'third of three']) await sendText(alice, text);
  await message(bob, 'third of three').waitFor();
  const theirs = log(bob).locator('.msg.theirs');
  assert.equal(await theirs.count(), 3);
  assert.deepEqual(await theirs.evaluateAll((els) => els.map((el) => [el.classList.contains('group-first'), el.classList.contains('group-last')])),
    [[true, false], [false, false], [false, true]]);
  assert.equal(await theirs.locator('time').count(), 1, 'one time per group, on its last message');
  assert.equal(await theirs.last().locator('time').count(), 1);
  await sendText(bob, 'a reply starts a group');
  await message(alice, 'a reply starts a group').waitFor();
  const mine = message(bob, 'a reply starts a group');
  assert.match(await mine.getAttribute('class'), /group-first/);
  assert.equal(await log(bob).locator('.day').count(), 1);
  await log(bob).locator('.day', { hasText: 'Today' }).waitFor();
  await screenshot(bob, 'view-01-groups');

  // The timeline itself, with times on other days and gaps (no server can backdate messages).
  const items = await bob.evaluate(async () => {
    const { timeline } = await import('/app/js/views/timeline.js');
    const now = new Date(2026, 5, 15, 12, 0).getTime();
    const at = (days, h, min) => new Date(2026, 5, 15 - days, h, min).getTime();
    const m = (key, ts, mine) => ({ key, ts, order: ts, mine, type: 'text' });
    const list = [m('a', at(3, 9, 0), false), m('b', at(1, 9, 0), false), m('c', at(1, 9, 2), false), m('d', at(1, 9, 30), false), m('e', at(0, 8, 0), true), m('f', at(0, 8, 1), false)];
    return timeline(list, { now, newFrom: at(0, 8, 0) }).map((i) => (i.kind === 'msg' ? `${i.key}${i.first ? '<' : ''}${i.last ? '>' : ''}` : i.kind === 'day' ? i.label : i.kind));
  });
  assert.equal(items.length, 10);
  assert.match(items[0], /June/);
  assert.deepEqual(items.slice(1), ['a<>', 'Yesterday', 'b<', 'c>', 'd<>', 'Today', 'e<>', 'new', 'f<>']);
  assertClean();
});

test('links: http(s) only, a new tab without referrer, text stays text, no previews', { skip }, async () => {
  await sendText(alice, 'see https://example.org/wiki/A_(b)?q=1. or http://example.com, not javascript:alert(1) or <a href="https://evil.example">x</a>');
  const msg = message(bob, 'see https://example.org');
  await msg.waitFor();
  const links = await msg.locator('a').evaluateAll((els) => els.map((a) => [a.getAttribute('href'), a.textContent, a.target, a.rel]));
  assert.deepEqual(links, [
    ['https://example.org/wiki/A_(b)?q=1', 'https://example.org/wiki/A_(b)?q=1', '_blank', 'noopener noreferrer nofollow'],
    ['http://example.com/', 'http://example.com', '_blank', 'noopener noreferrer nofollow'],
    ['https://evil.example/', 'https://evil.example', '_blank', 'noopener noreferrer nofollow'],
  ]);
  assert.match(await msg.locator('.text').innerText(), /not javascript:alert\(1\) or <a href="https:\/\/evil\.example">x<\/a>/);
  assert.equal(await msg.locator('img, iframe').count(), 0, 'no link previews');
  assertClean();
});

test('scrolled up: "New messages" divider and "Jump to latest"; reading marks read', { skip }, async () => {
  for (let i = 1; i <= 25; i++) await sendText(bob, `filler line ${i}\nwith a second line`);
  await message(alice, 'filler line 25').waitFor();
  await message(bob, 'filler line 25').getByRole('img', { name: 'Read' }).waitFor();
  await scrollToTop(alice);
  await sendText(bob, 'news while you were up there');
  await sendText(bob, 'and more news');
  await message(alice, 'and more news').waitFor();
  const jump = alice.getByRole('button', { name: 'Jump to latest' });
  await jump.waitFor();
  assert.match(await jump.innerText(), /2 new messages/);
  await log(alice).getByRole('separator', { name: 'New messages' }).waitFor();
  await badge(alice, 'bob').filter({ hasText: '2' }).waitFor();
  // Not seen yet: not read.
  await alice.waitForTimeout(500);
  assert.equal(await message(bob, 'and more news').getByRole('img', { name: 'Sent' }).count(), 1);
  await screenshot(alice, 'view-02-new-messages');
  // The divider sits right before the first new message.
  const before = await log(alice).getByRole('separator', { name: 'New messages' }).evaluate((el) => el.nextElementSibling.textContent);
  assert.match(before, /news while you were up there/);
  await jump.click();
  await jump.waitFor({ state: 'hidden' });
  await badge(alice, 'bob').waitFor({ state: 'detached' });
  await message(bob, 'and more news').getByRole('img', { name: 'Read' }).waitFor();

  // Scrolling to a message (not to the end) marks it read, and only up to it.
  await scrollToTop(alice);
  await sendText(bob, 'scroll down to me');
  await message(alice, 'scroll down to me').waitFor();
  await jump.waitFor();
  await sendText(bob, 'far below');
  await badge(alice, 'bob').filter({ hasText: '2' }).waitFor();
  await message(alice, 'scroll down to me').evaluate((el) => el.scrollIntoView({ block: 'end' }));
  await message(bob, 'scroll down to me').getByRole('img', { name: 'Read' }).waitFor();
  await badge(alice, 'bob').filter({ hasText: '1' }).waitFor();
  await jump.click();
  await badge(alice, 'bob').waitFor({ state: 'detached' });
  // Sending clears the divider.
  await sendText(alice, 'caught up');
  await log(alice).getByRole('separator', { name: 'New messages' }).waitFor({ state: 'detached' });
  assertClean();
});

test('the self-destruct timer is a per-conversation setting, shown in the composer, with notices', { skip }, async () => {
  const carol = await newPage();
  await register(carol, 'carol');
  await alice.reload();
  await openConversation(alice, 'bob');
  const timer = alice.getByRole('combobox', { name: 'Self-destruct timer' });
  await timer.selectOption('3600000');
  await log(alice).getByRole('note').filter({ hasText: 'You turned on disappearing messages: 1 hour.' }).waitFor();
  const note = alice.locator('.timer-note');
  assert.match(await note.innerText(), /Disappearing messages: 1 hour/);
  await sendText(alice, 'this one disappears in an hour');
  await message(bob, 'this one disappears in an hour').locator('.countdown[aria-label^="disappears in"]').waitFor();
  assert.equal(await settled(() => timer.inputValue(), '3600000'), '3600000', 'the setting stays after sending');
  assert.ok(await note.isVisible(), 'and the composer shows that it is on');
  await screenshot(alice, 'view-03-timer-on');

  // Per conversation: not set with carol; kept for bob across a reload.
  await openConversation(alice, 'carol');
  assert.equal(await timer.inputValue(), '');
  assert.ok(!(await note.isVisible()));
  await sendText(alice, 'hello carol, no timer');
  await message(alice, 'hello carol, no timer').getByRole('img', { name: /Sent|Read/ }).waitFor();
  assert.equal(await message(alice, 'hello carol, no timer').locator('.countdown').count(), 0);
  await alice.reload();
  await openConversation(alice, 'bob');
  assert.equal(await settled(() => timer.inputValue(), '3600000'), '3600000', 'kept across a reload');
  await log(alice).getByRole('note').filter({ hasText: 'You turned on disappearing messages: 1 hour.' }).waitFor();

  await timer.selectOption('300000');
  await log(alice).getByRole('note').filter({ hasText: 'You changed disappearing messages to 5 minutes.' }).waitFor();
  await timer.selectOption('');
  await log(alice).getByRole('note').filter({ hasText: 'You turned off disappearing messages.' }).waitFor();
  assert.ok(!(await note.isVisible()));
  await sendText(alice, 'no timer again');
  await message(alice, 'no timer again').getByRole('img', { name: /Sent|Read/ }).waitFor();
  assert.equal(await message(alice, 'no timer again').locator('.countdown').count(), 0);
  // The notices are local: bob sees none.
  assert.equal(await log(bob).getByRole('note').count(), 0);
  assertClean();
});

test('delete for me: hidden here only, for good; delete for everyone still on own messages', { skip }, async () => {
  await sendText(alice, 'bob will hide this');
  const theirs = message(bob, 'bob will hide this');
  await theirs.waitFor();
  await theirs.getByRole('button', { name: 'Message actions' }).click();
  const menu = theirs.getByRole('menu', { name: 'Message actions' });
  await menu.waitFor();
  assert.deepEqual(await menu.getByRole('menuitem').allInnerTexts(), ['Delete for me'], 'only the sender deletes for everyone');
  await screenshot(bob, 'view-04-actions-menu');
  await menu.getByRole('menuitem', { name: 'Delete for me' }).click();
  await bob.getByRole('dialog', { name: 'Delete this message for you?' }).getByRole('button', { name: 'Delete for me' }).click();
  await theirs.waitFor({ state: 'detached' });
  // Still there for alice; gone for bob after a reload too.
  await message(alice, 'bob will hide this').waitFor();
  await bob.reload();
  await openConversation(bob, 'alice');
  await message(bob, 'and more news').waitFor();
  assert.equal(await message(bob, 'bob will hide this').count(), 0);

  // Own messages offer both; Escape closes the menu.
  const own = message(bob, 'and more news');
  await own.getByRole('button', { name: 'Message actions' }).click();
  assert.deepEqual(await own.getByRole('menu').getByRole('menuitem').allInnerTexts(), ['Delete for me', 'Delete for everyone']);
  await bob.keyboard.press('Escape');
  await own.getByRole('menu').waitFor({ state: 'hidden' });
  assertClean();
});

test('images show as thumbnails after decryption; long file names fit a phone', { skip }, async () => {
  await alice.locator('.composer input[type=file]').setInputFiles([
    { name: 'sunset.png', mimeType: 'image/png', buffer: png(64, 40, [230, 120, 40]) },
    { name: 'a-very-long-file-name-that-would-never-fit-on-a-phone-screen-quarterly-report-2026-final-v3.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 not really') },
  ]);
  const thumb = message(bob, 'sunset.png').locator('img.thumb-img');
  await thumb.waitFor();
  await bob.waitForFunction(() => {
    const img = document.querySelector('img.thumb-img');
    return img && img.complete && img.naturalWidth === 64;
  });
  assert.match(await thumb.getAttribute('src'), /^blob:/);
  assert.equal(await thumb.getAttribute('alt'), 'sunset.png');
  await message(alice, 'sunset.png').locator('img.thumb-img').waitFor();
  await message(bob, 'quarterly-report').waitFor();
  assert.equal(await message(bob, 'quarterly-report').locator('img').count(), 0, 'no thumbnail for other files');

  // The object URL is revoked when the message is no longer shown.
  const src = await thumb.getAttribute('src');
  bob.allowErrors.push(/ERR_FILE_NOT_FOUND/);
  await openConversation(bob, 'carol');
  const revoked = await bob.evaluate((url) => new Promise((ok) => {
    const img = new Image();
    img.onload = () => ok(false);
    img.onerror = () => ok(true);
    img.src = url;
  }), src);
  assert.ok(revoked, 'the object URL was revoked');
  bob.allowErrors.pop();
  await openConversation(bob, 'alice');
  await message(bob, 'sunset.png').locator('img.thumb-img').waitFor();

  await bob.setViewportSize({ width: 390, height: 844 });
  const name = message(bob, 'quarterly-report').locator('.file-name');
  await name.scrollIntoViewIfNeeded();
  assert.equal(await name.getAttribute('title'), 'a-very-long-file-name-that-would-never-fit-on-a-phone-screen-quarterly-report-2026-final-v3.pdf');
  const box = await name.boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 390, `the file name stays on screen (${JSON.stringify(box)})`);
  const width = await bob.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no horizontal scrolling at 390 px (got ${width})`);
  await screenshot(bob, 'view-05-phone-files');
  await bob.setViewportSize({ width: 1280, height: 800 });
  assertClean();
});

test('a new touch-screen browser after importing the key file: unread counts and read marks stay right', { skip }, async () => {
  await sendText(bob, 'bob has the last word');
  await message(alice, 'bob has the last word').waitFor();
  await message(bob, 'bob has the last word').getByRole('img', { name: 'Read' }).waitFor();
  // Something newer in bob's stream than alice's receipt: the receipt is not at its end.
  // (Bob's first browser then stays there: it would read alice's next message, and the
  // phone learn so.)
  await openConversation(bob, 'carol');
  await sendText(bob, 'hello carol');
  await message(bob, 'hello carol').getByRole('img', { name: /Sent|Read/ }).waitFor();

  const phone = await newPage({ viewport: { width: 390, height: 844 }, hasTouch: true });
  await login(phone, 'bob');
  await phone.getByRole('heading', { name: 'Import your keys' }).waitFor();
  await phone.getByLabel('Key file').setInputFiles({ name: 'securechat-bob.key.json', mimeType: 'application/json', buffer: Buffer.from(bobKeyFile) });
  await phone.getByLabel('Passphrase').fill(PASSPHRASE);
  await phone.getByRole('button', { name: 'Import keys and continue' }).click();
  await contactList(phone).waitFor();
  await contact(phone, 'alice').waitFor();
  // Bob answered alice last: nothing in that conversation is unread on the new browser.
  await phone.waitForTimeout(500);
  assert.equal(await badge(phone, 'alice').count(), 0, 'history bob already answered is not unread');
  await sendText(alice, 'one new message');
  await badge(phone, 'alice').filter({ hasText: '1' }).waitFor();
  await badge(bob, 'alice').filter({ hasText: '1' }).waitFor();
  await openConversation(phone, 'alice');
  await message(phone, 'one new message').waitFor();
  await badge(bob, 'alice').waitFor({ state: 'detached' });
  // Bob's own messages that alice read show as read here too.
  await message(phone, 'bob has the last word').getByRole('img', { name: 'Read' }).waitFor();

  // On a touch screen the actions button is visible without hover, and a long press opens the menu.
  const msg = message(phone, 'one new message');
  const opacity = await settled(() => msg.locator('.msg-actions').evaluate((el) => getComputedStyle(el).opacity), '1');
  assert.equal(opacity, '1', 'actions visible without hover');
  await msg.locator('.bubble').dispatchEvent('pointerdown', { pointerType: 'touch', isPrimary: true, clientX: 10, clientY: 10 });
  await msg.getByRole('menu', { name: 'Message actions' }).waitFor();
  await screenshot(phone, 'view-06-phone-long-press');
  await phone.keyboard.press('Escape');
  assertClean();
});
