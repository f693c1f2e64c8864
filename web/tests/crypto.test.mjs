// The browser's JavaScript crypto passes the Rust known-answer vectors (testdata/vectors/):
// RFC 9180 HPKE, key bindings, envelopes (seal byte for byte, open, every refusal), the file
// stream, the key file and safety numbers. Runs in headless Chromium on the real app origin.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, launchBrowser, openPage, skipReason, startServer } from './lib/harness.mjs';
import { checkVectorsInPage } from './lib/vectors-in-page.mjs';

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

function vectors() {
  const read = (name) => JSON.parse(readFileSync(join(ROOT, 'testdata', 'vectors', name), 'utf8'));
  return {
    rfc9180: read('rfc9180-x25519-aes256gcm.json'),
    binding: read('binding.json'),
    envelope: read('envelope.json'),
    file_stream: read('file_stream.json'),
    keyfile: read('keyfile.json'),
    fingerprint: read('fingerprint.json'),
    group: read('group.json'),
  };
}

test('the JavaScript crypto passes the Rust test vectors', { skip }, async () => {
  const page = await openPage(browser, server.url);
  await page.goto('/');
  const results = await page.evaluate(checkVectorsInPage, vectors());
  const failed = results.filter((r) => !r.ok);
  for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.ok ? '' : `: ${r.error}`}`);
  assert.ok(results.length >= 15, `only ${results.length} vector groups ran`);
  assert.deepEqual(failed, []);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
