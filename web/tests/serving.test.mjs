// The server serves the embedded client with the right types (the OPAQUE module as
// application/wasm), a strict CSP and the usual security headers on every page, revalidates
// with ETags, and keeps the API's 404s.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT, startServer } from './lib/harness.mjs';

const skip = existsSync(BIN) ? false : 'the server binary is not built';
let server;

before(async () => {
  if (!skip) server = await startServer();
});

after(async () => {
  await server?.close();
});

test('the app is served with a strict CSP, security headers and ETags', { skip }, async () => {
  const page = await fetch(`${server.url}/`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  const csp = page.headers.get('content-security-policy');
  assert.match(csp, /default-src 'self'/);
  // WebAssembly (the OPAQUE client) may be compiled; JavaScript eval stays forbidden.
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'(;|$)/);
  assert.doesNotMatch(csp, /'unsafe-inline'|'unsafe-eval'/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  const html = await page.text();
  assert.doesNotMatch(html, /<script>|<style|style="/);
  for (const src of html.matchAll(/(?:src|href)="(\/app\/[^"]+)"/g)) {
    const res = await fetch(`${server.url}${src[1]}`);
    assert.equal(res.status, 200, src[1]);
  }
  const js = await fetch(`${server.url}/app/js/main.js`);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.match(js.headers.get('content-security-policy'), /default-src 'self'/);
  const etag = js.headers.get('etag');
  assert.ok(etag);
  const again = await fetch(`${server.url}/app/js/main.js`, { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal((await fetch(`${server.url}/app/css/app.css`)).headers.get('content-type'), 'text/css; charset=utf-8');
  const wasm = await fetch(`${server.url}/app/opaque/securechat-opaque.wasm`);
  assert.equal(wasm.status, 200);
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  const served = new Uint8Array(await wasm.arrayBuffer());
  assert.deepEqual(served, new Uint8Array(readFileSync(join(ROOT, 'web', 'app', 'opaque', 'securechat-opaque.wasm'))));
  assert.equal((await fetch(`${server.url}/app/../Cargo.toml`)).status, 404);
  assert.equal((await fetch(`${server.url}/app/nope.js`)).status, 404);
  assert.equal((await fetch(`${server.url}/api/v1/nope`)).status, 404);
});
