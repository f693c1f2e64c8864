// The REST client (docs/API.md). The access token lives only in memory; the refresh token is
// an HttpOnly cookie the page cannot read. Refreshes are serialised, also across tabs (a
// second refresh with a rotated token would revoke the session), and happen silently before
// the access token expires and after a 401.

const SESSION_HINT = 'securechat.session';

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

export class Api extends EventTarget {
  constructor() {
    super();
    this.token = null;
    this.userId = null;
    this.refreshTimer = null;
    this.refreshing = null;
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

  /** Password grant; the refresh token goes into the HttpOnly cookie. */
  login(username, password) {
    return this.#token({ grant_type: 'password', username, password, refresh_cookie: 'true' });
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

  async register(request) {
    const res = await fetch('/api/v1/auth/register', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(request),
    });
    if (!res.ok) throw await errorOf(res);
    return res.json();
  }

  users() {
    return this.json('/api/v1/users');
  }

  /**
   * What this server offers before anyone logs in: { registration: 'open'|'invite'|'closed',
   * first_account, password_reset_email }. Not authenticated.
   */
  async serverInfo() {
    const res = await fetch('/api/v1/server', { cache: 'no-store' });
    if (!res.ok) throw await errorOf(res);
    return res.json();
  }

  /** Sets a new password with a reset code (from a reset link); every session of the account ends. */
  async resetPassword(code, newPassword) {
    const res = await fetch('/api/v1/auth/password/reset', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code, new_password: newPassword }),
      cache: 'no-store',
    });
    if (!res.ok) throw await errorOf(res);
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

  /** Deletes the logged-in account for good (the password confirms it). */
  deleteAccount(password) {
    return this.json('/api/v1/me', 'DELETE', { password });
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

  changePassword(current, next) {
    return this.json('/api/v1/auth/password', 'POST', { current_password: current, new_password: next });
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
