// OPAQUE from Node (docs/PROTOCOL.md §18): the app's own client (web/app/js/crypto/opaque.js)
// with the module read from disk, for tests that need a session of their own beside the
// browser's (the password grant no longer opens accounts made with OPAQUE).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './harness.mjs';
import * as b64 from '../../app/js/crypto/b64.js';
import * as opaque from '../../app/js/crypto/opaque.js';

export const WASM_FILE = join(ROOT, 'web', 'app', 'opaque', 'securechat-opaque.wasm');

let loaded = null;
/** The app's OPAQUE client, its module loaded from disk. */
export async function opaqueClient() {
  loaded ??= opaque.load(readFileSync(WASM_FILE));
  await loaded;
  return opaque;
}

async function postJson(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${new URL(url).pathname}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Logs `username` in with OPAQUE (no refresh cookie): the token response. */
export async function opaqueLogin(serverUrl, username, password) {
  const o = await opaqueClient();
  const start = await o.loginStart(password);
  const answer = await postJson(`${serverUrl}/api/v1/auth/opaque/login/start`, { username, credential_request: b64.encode(start.message) });
  const finalization = await o.loginFinish(start.state, password, b64.decode(answer.credential_response));
  const res = await fetch(`${serverUrl}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:securechat:grant-type:opaque',
      login_id: answer.login_id,
      credential_finalization: b64.encode(finalization),
    }).toString(),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`the OPAQUE grant for ${username}: ${res.status} ${text}`);
  return JSON.parse(text);
}
