// The REST client (docs/API.md). The access token lives only in memory; the refresh token is
// an HttpOnly cookie the page cannot read. Refreshes are serialised, also across tabs (a
// second refresh with a rotated token would revoke the session), and happen silently before
// the access token expires and after a 401.
//
// Passwords go through OPAQUE (docs/PROTOCOL.md §18, crypto/opaque.js): registration, login,
// proving the current password (change, deletion) and resets never send the password. The
// only exception is §18.6's fallback for accounts made before OPAQUE, which the server's
// "password_logins" setting allows and this browser refuses for an account it has already
// logged in with OPAQUE.

import * as b64 from './crypto/b64.js';
import * as opaque from './crypto/opaque.js';

const SESSION_HINT = 'securechat.session';
/** The accounts this browser logged in with OPAQUE: { logins: { login: userId }, users: [userId] }. */
const OPAQUE_KNOWN = 'securechat.opaque';
const OPAQUE_GRANT = 'urn:securechat:grant-type:opaque';
const WRONG_LOGIN = 'Wrong username, email or password.';

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    Object.assign(this, { status, code, field });
  }
}

/** The session cannot continue: the user has to log in again. */
export class SessionEnded extends Error {
  constructor(message) {
    super(message);
    this.name = 'SessionEnded';
  }
}

async function errorOf(res) {
  let body = {};
  try {
    body = await res.json();
  } catch {
    // not JSON
  }
  const retry = res.headers.get('retry-after');
  let message = body.message || body.error_description || `The server answered ${res.status}.`;
  if (retry && res.status === 429) message += ` Try again in ${retry} s.`;
  return new ApiError(res.status, body.error || 'http_error', message, body.field);
}

function form(fields) {
  return new URLSearchParams(fields).toString();
}

/** An unauthenticated JSON POST; resolves the answer's JSON (null for 204). */
async function post(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  if (!res.ok) throw await errorOf(res);
  return res.status === 204 ? null : res.json();
}

/** A login name as this browser remembers it: as typed, in lower case. */
const loginKey = (login) => login.trim().toLowerCase();

function readKnown() {
  try {
    const known = JSON.parse(localStorage.getItem(OPAQUE_KNOWN) || '{}');
    return { logins: known.logins && typeof known.logins === 'object' ? known.logins : {}, users: Array.isArray(known.users) ? known.users : [] };
  } catch {
    return { logins: {}, users: [] };
  }
}

/** Whether an OPAQUE step failed because the password does not open the answer. */
const invalidLogin = (e) => e instanceof opaque.OpaqueError && e.invalidLogin;

/** A wrong password as the password grant says it ("invalid_grant"). */
const wrongLogin = () => new ApiError(400, 'invalid_grant', WRONG_LOGIN);

/** The password was no proof: "wrong_password", as the server says it. */
const wrongPassword = () => new ApiError(403, 'wrong_password', 'wrong password');

/** A new OPAQUE record for `password`: `start(request)` resolves the server's registration_response. */
async function makeRecord(password, start) {
  const begun = await opaque.registrationStart(password);
  try {
    const answer = await start(b64.encode(begun.message));
    return b64.encode(await opaque.registrationFinish(begun.state, password, b64.decode(answer.registration_response)));
  } finally {
    begun.state.fill(0);
  }
}

export class Api extends EventTarget {
  constructor() {
    super();
    this.token = null;
    this.userId = null;
    this.refreshTimer = null;
    this.refreshing = null;
    /** The server's "password_logins" (§18.6), once GET /api/v1/server was read. */
    this.passwordLogins = null;
  }

  get loggedIn() {
    return this.token !== null;
  }

  /** Whether this browser may have a session cookie (a non-secret hint, to skip a refresh that cannot work). */
  get maybeSession() {
    return localStorage.getItem(SESSION_HINT) === '1';
  }

  #setToken(body) {
    localStorage.setItem(SESSION_HINT, '1');
    this.token = body.access_token;
    this.userId = body.user_id;
    clearTimeout(this.refreshTimer);
    const inMs = Math.max(5, body.expires_in - Math.min(60, body.expires_in / 4)) * 1000;
    this.refreshTimer = setTimeout(() => this.refresh().catch(() => {}), inMs);
    this.dispatchEvent(new CustomEvent('token', { detail: this.token }));
  }

  /** Forgets the session locally (the cookie stays until logout or expiry). */
  clear() {
    localStorage.removeItem(SESSION_HINT);
    this.token = null;
    this.userId = null;
    clearTimeout(this.refreshTimer);
  }

  async #token(fields) {
    const res = await fetch('/api/v1/auth/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: form(fields),
      credentials: 'same-origin',
      cache: 'no-store',
    });
    if (!res.ok) throw await errorOf(res);
    const body = await res.json();
    this.#setToken(body);
    return body;
  }

  // ---- OPAQUE ------------------------------------------------------------------------------

  /** Whether this browser has logged the account of `login` (or the account `userId`) in with OPAQUE. */
  knowsOpaque({ login, userId } = {}) {
    const known = readKnown();
    if (login && Object.hasOwn(known.logins, loginKey(login))) return true;
    return !!userId && (known.users.includes(userId) || Object.values(known.logins).includes(userId));
  }

  /** Remembers that this account logs in with OPAQUE: its password is never sent again from here. */
  rememberOpaque({ login, userId }) {
    const known = readKnown();
    if (login) known.logins[loginKey(login)] = userId || known.logins[loginKey(login)] || null;
    if (userId && !known.users.includes(userId)) known.users.push(userId);
    try {
      localStorage.setItem(OPAQUE_KNOWN, JSON.stringify(known));
    } catch {
      // storage full or refused: the fallback stays possible, as the server allows
    }
  }

  /**
   * The server's "password_logins" (§18.6), read afresh (an operator may have switched to
   * "opaque" since the page loaded): a password is sent only when the server says now that
   * it takes them. Unknown (the server did not answer) counts as "opaque": nothing is sent.
   */
  async #passwordLogins() {
    this.passwordLogins = null;
    try {
      await this.serverInfo();
    } catch {
      // unknown: below
    }
    return this.passwordLogins || 'opaque';
  }

  /**
   * Proves `password` for a login (§18.3 step 1 and ClientFinish): `start(credential_request)`
   * resolves { login_id, credential_response }. Resolves { login_id, credential_finalization }
   * or throws OpaqueError ('invalid_login' for a wrong password).
   */
  async #prove(password, start) {
    const begun = await opaque.loginStart(password);
    try {
      const answer = await start(b64.encode(begun.message));
      const finalization = await opaque.loginFinish(begun.state, password, b64.decode(answer.credential_response));
      return { login_id: answer.login_id, credential_finalization: b64.encode(finalization) };
    } finally {
      begun.state.fill(0);
    }
  }

  /**
   * Logs in (§18.3): OPAQUE first. Unless the server's setting (§18.6) is "opaque" or this
   * browser already logged this account in with OPAQUE, a password that does not open the
   * OPAQUE answer is tried once with the password grant (an account made before OPAQUE), and
   * the account is moved over to OPAQUE at once when the server asks for it. A wrong password
   * throws ApiError 'invalid_grant'; the refresh token goes into the HttpOnly cookie.
   */
  async login(username, password) {
    let proof;
    try {
      proof = await this.#prove(password, (request) =>
        post('/api/v1/auth/opaque/login/start', { username, credential_request: request }));
    } catch (e) {
      if (!invalidLogin(e)) throw e;
      if (this.knowsOpaque({ login: username }) || (await this.#passwordLogins()) === 'opaque') throw wrongLogin();
      return this.#legacyLogin(username, password);
    }
    const body = await this.#token({ grant_type: OPAQUE_GRANT, login_id: proof.login_id, credential_finalization: proof.credential_finalization, refresh_cookie: 'true' });
    this.rememberOpaque({ login: username, userId: body.user_id });
    return body;
  }

  /** §18.6: the password grant for an account without an OPAQUE record, then its upgrade. */
  async #legacyLogin(username, password) {
    let body;
    try {
      body = await this.#token({ grant_type: 'password', username, password, refresh_cookie: 'true' });
    } catch (e) {
      if (e instanceof ApiError && (e.code === 'invalid_grant' || e.code === 'unsupported_grant_type')) throw wrongLogin();
      throw e;
    }
    if (body.opaque_upgrade === true) {
      try {
        await this.#setRecord(password, { current_password: password }, { upgrade: true });
        this.rememberOpaque({ login: username, userId: body.user_id });
      } catch (e) {
        // Logged in all the same; the server asks again at the next login.
        console.warn(`moving the account to OPAQUE failed: ${e.message}`);
      }
    }
    return body;
  }

  /**
   * Sets a new OPAQUE record for the signed-in account (§18.4). `proof` (confirm's, or
   * current_password) goes with both steps, `finish` only with the second.
   */
  async #setRecord(password, proof, finish = {}) {
    const record = await makeRecord(password, (request) =>
      this.json('/api/v1/auth/opaque/password/start', 'POST', { registration_request: request, ...proof }));
    await this.json('/api/v1/auth/opaque/password/finish', 'POST', { registration_record: record, ...proof, ...finish });
  }

  /**
   * Proves the signed-in account's current password (§18.4 confirm): { login_id,
   * credential_finalization }, or null when it does not open and the account may still have
   * only a password hash (then the caller sends the password itself, as the server's setting
   * allows). Throws ApiError 'wrong_password' for a wrong password of an OPAQUE account.
   */
  async #confirm(password) {
    try {
      return await this.#prove(password, (request) =>
        this.json('/api/v1/auth/opaque/confirm', 'POST', { credential_request: request }));
    } catch (e) {
      if (!invalidLogin(e)) throw e;
      if (this.knowsOpaque({ userId: this.userId }) || (await this.#passwordLogins()) === 'opaque') throw wrongPassword();
      return null;
    }
  }

  /**
   * Registration (§18.2): the OPAQUE record for `password` made with the server, then the
   * account. `request` is KeyRing.registration()'s body (without a password).
   */
  async register(request, password) {
    const record = await makeRecord(password, (registrationRequest) =>
      post('/api/v1/auth/opaque/register/start', { user_id: request.user_id, registration_request: registrationRequest }));
    return post('/api/v1/auth/register', { ...request, opaque_record: record });
  }

  /**
   * A new access token from the refresh cookie. Throws SessionEnded when the session is over
   * (expired, revoked, or no cookie), ApiError/TypeError for other failures.
   */
  refresh() {
    this.refreshing ??= (async () => {
      const run = async () => {
        try {
          return await this.#token({ grant_type: 'refresh_token', refresh_cookie: 'true' });
        } catch (e) {
          if (e instanceof ApiError && (e.code === 'invalid_grant' || e.code === 'invalid_request')) {
            this.clear();
            const ended = new SessionEnded('Your session has ended. Please log in again.');
            this.dispatchEvent(new CustomEvent('ended', { detail: ended }));
            throw ended;
          }
          throw e;
        }
      };
      try {
        return navigator.locks ? await navigator.locks.request('securechat-refresh', run) : await run();
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** An authenticated request; refreshes once on 401. Returns the Response. */
  async fetch(path, options = {}, retried = false) {
    if (!this.token) await this.refresh();
    const headers = { ...(options.headers || {}), Authorization: `Bearer ${this.token}` };
    const res = await fetch(path, { ...options, headers, credentials: 'same-origin', cache: 'no-store' });
    if (res.status === 401 && !retried) {
      await this.refresh();
      return this.fetch(path, options, true);
    }
    if (res.status === 401) {
      this.clear();
      throw new SessionEnded('Your session has ended. Please log in again.');
    }
    if (!res.ok) throw await errorOf(res);
    return res;
  }

  async json(path, method = 'GET', body) {
    const options = { method };
    if (body !== undefined) {
      options.headers = { 'Content-Type': 'application/json' };
      options.body = JSON.stringify(body);
    }
    const res = await this.fetch(path, options);
    return res.status === 204 ? null : res.json();
  }

  users() {
    return this.json('/api/v1/users');
  }

  /**
   * What this server offers before anyone logs in: { registration: 'open'|'invite'|'closed',
   * first_account, password_reset_email, password_logins: 'migrate'|'legacy'|'opaque' }. Not
   * authenticated.
   */
  async serverInfo() {
    const res = await fetch('/api/v1/server', { cache: 'no-store' });
    if (!res.ok) throw await errorOf(res);
    const body = await res.json();
    if (typeof body.password_logins === 'string') this.passwordLogins = body.password_logins;
    return body;
  }

  /** Sets a new password with a reset code (from a reset link, §18.5); every session of the account ends. */
  async resetPassword(code, newPassword) {
    const record = await makeRecord(newPassword, (request) =>
      post('/api/v1/auth/opaque/reset/start', { code, registration_request: request }));
    await post('/api/v1/auth/password/reset', { code, registration_record: record });
  }

  /** Asks the server to email a reset link (the answer is the same whether the account exists or not). */
  async forgotPassword(login) {
    const res = await fetch('/api/v1/auth/password/forgot', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ login }),
      cache: 'no-store',
    });
    if (!res.ok) throw await errorOf(res);
  }

  /**
   * Deletes the logged-in account for good; the password confirms it, through OPAQUE (§18.4).
   * A wrong password throws ApiError 'wrong_password' before anything is sent.
   */
  async deleteAccount(password) {
    const proof = await this.#confirm(password);
    return this.json('/api/v1/me', 'DELETE', proof ?? { password });
  }

  userKeys(id) {
    return this.json(`/api/v1/users/${encodeURIComponent(id)}/keys`);
  }

  publishKey(record) {
    return this.json('/api/v1/me/keys', 'POST', record);
  }

  history(peer, before, limit = 50) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before) q.set('before', String(before));
    return this.json(`/api/v1/conversations/${encodeURIComponent(peer)}/messages?${q}`);
  }

  /** The groups I am a member of: [{ group_id, seq }]. */
  groups() {
    return this.json('/api/v1/groups');
  }

  /** A group's signed changes from `from` on: { group_id, from, changes: [{ change, sig }] }. */
  groupChanges(groupId, from = 0) {
    return this.json(`/api/v1/groups/${encodeURIComponent(groupId)}/changes?from=${from}`);
  }

  /** Stores a group's next signed change ({ change, sig }); 409 group_conflict when another came first. */
  postGroupChange(groupId, signed) {
    return this.json(`/api/v1/groups/${encodeURIComponent(groupId)}/changes`, 'POST', signed);
  }

  /** A page of a group's messages that I received (as history()). */
  groupHistory(groupId, before, limit = 50) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before) q.set('before', String(before));
    return this.json(`/api/v1/groups/${encodeURIComponent(groupId)}/messages?${q}`);
  }

  /**
   * Changes the password (§18.4): the current one proved through OPAQUE (or, for an account
   * that still has a password hash, sent as the server's setting allows), a new record made
   * from the next. A wrong current password throws ApiError 'wrong_password'.
   */
  async changePassword(current, next) {
    const proof = await this.#confirm(current);
    await this.#setRecord(next, proof ?? { current_password: current });
    this.rememberOpaque({ userId: this.userId });
  }

  async logout() {
    try {
      if (this.token) await this.fetch('/api/v1/auth/logout', { method: 'POST' }, true);
    } finally {
      this.clear();
    }
  }

  /**
   * Uploads file ciphertext for `peer` with progress (XHR: fetch has no upload progress);
   * `{ group: true }` uploads it for the group `peer` instead.
   */
  async upload(peer, bytes, onProgress, { group = false } = {}) {
    const send = (token) =>
      new Promise((ok, fail) => {
        const xhr = new XMLHttpRequest();
        xhr.open('POST', `/api/v1/files?${group ? 'group' : 'to'}=${encodeURIComponent(peer)}`);
        xhr.setRequestHeader('Authorization', `Bearer ${token}`);
        xhr.setRequestHeader('Content-Type', 'application/octet-stream');
        xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(e.loaded, e.total);
        xhr.onload = () => ok(xhr);
        xhr.onerror = () => fail(new TypeError('the upload failed: network error'));
        xhr.send(new Blob([bytes]));
      });
    if (!this.token) await this.refresh();
    let xhr = await send(this.token);
    if (xhr.status === 401) {
      await this.refresh();
      xhr = await send(this.token);
    }
    let body = {};
    try {
      body = JSON.parse(xhr.responseText);
    } catch {
      // not JSON
    }
    if (xhr.status !== 201) throw new ApiError(xhr.status, body.error, body.message || `The upload failed (${xhr.status}).`);
    return body;
  }

  /** Downloads a file's ciphertext with progress. */
  async download(fileId, onProgress) {
    const res = await this.fetch(`/api/v1/files/${encodeURIComponent(fileId)}`);
    const total = Number(res.headers.get('content-length')) || 0;
    const reader = res.body.getReader();
    const parts = [];
    let loaded = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      loaded += value.length;
      onProgress?.(loaded, total);
    }
    const out = new Uint8Array(loaded);
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  }
}
