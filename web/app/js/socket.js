// The WebSocket (/api/v1/ws, crates/proto/src/ws.rs): authenticates with its first frame,
// re-authenticates when the access token is refreshed, keeps itself alive, and reconnects
// with exponential backoff (with jitter) after a drop. Emits 'state' ({ online, retryIn }) and
// 'frame'.
//
// It never lets a stream event be skipped. After `caught_up`, live events come one `seq` after
// another; with several server nodes one can be late or lost on its way between them, so a
// live event whose `seq` is beyond the next one is not passed on: the socket reconnects at
// once, resuming from the last contiguous `seq`, and the server replays what was missed.

import { SessionEnded } from './api.js';

/** The WebSocket protocol version this page speaks (crates/proto/src/ws.rs `Protocol`);
 * named in the auth frame, so that a server that changed a frame still answers in these
 * shapes, or says plainly that it cannot. */
export const PROTOCOL_VERSION = 3;
/** Set while a page reloaded itself because the server did not speak its version. */
const RELOADED_FOR_PROTOCOL = 'securechat.reloadedForProtocol';
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
const PING_EVERY_MS = 25000;
const PONG_WITHIN_MS = 10000;
const ENDS_SESSION = new Set(['session_revoked', 'unauthorized', 'token_expired', 'auth_required', 'auth_timeout']);
/** Longest wait before resuming after a gap (jitter only: the server is fine). */
const GAP_JITTER_MS = 250;
/** Frames that hold a place in the user's stream (`read` only when stored, with a seq). */
const STREAM_FRAMES = new Set(['message', 'deleted', 'ack', 'read']);

/** The place a frame holds in the user's stream, or null. */
export function streamSeq(frame) {
  return STREAM_FRAMES.has(frame.type) && Number.isSafeInteger(frame.seq) ? frame.seq : null;
}

/**
 * What to tell a user whose session the server revoked: a reset password and a deleted
 * account say so (the server's reason names them); anything else is a logout elsewhere or a
 * password change.
 */
function revokedText(reason) {
  if (/account was deleted/i.test(reason)) return 'Your session was ended: this account was deleted.';
  if (/password was reset/i.test(reason)) return 'Your session was ended: the password of this account was reset. Log in with the new password.';
  return 'Your session was ended (you logged out elsewhere or changed your password). Please log in again.';
}

export class Socket extends EventTarget {
  /** `since()` gives the last stream seq the client holds. */
  constructor(api, since) {
    super();
    this.api = api;
    this.since = since;
    this.ws = null;
    this.ready = false;
    this.stopped = true;
    this.attempt = 0;
    this.timer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.retryAt = 0;
    this.authError = null;
    // The last contiguous seq passed on, once caught up (null during the replay).
    this.held = null;
    // Where to resume after a gap (the caller's position may lag behind what was passed on).
    this.resumeFrom = 0;
    this.onToken = (e) => this.ready && this.#send({ type: 'auth', token: e.detail });
    this.onOnline = () => this.reconnectNow();
  }

  start() {
    this.stopped = false;
    this.api.addEventListener('token', this.onToken);
    window.addEventListener('online', this.onOnline);
    this.#connect();
  }

  stop() {
    this.stopped = true;
    this.api.removeEventListener('token', this.onToken);
    window.removeEventListener('online', this.onOnline);
    clearTimeout(this.timer);
    this.#stopPing();
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close();
      this.ws = null;
    }
    this.ready = false;
  }

  get online() {
    return this.ready;
  }

  /** Sends a frame if connected and authenticated; false otherwise (the caller queues it). */
  send(frame) {
    if (!this.ready) return false;
    return this.#send(frame);
  }

  /** Skips the backoff wait. */
  reconnectNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.#connect();
  }

  #send(frame) {
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  #emitState() {
    this.dispatchEvent(new CustomEvent('state', { detail: { online: this.ready, retryAt: this.retryAt } }));
  }

  async #connect() {
    if (this.stopped) return;
    let token = this.api.token;
    try {
      if (!token || this.authError) token = (await this.api.refresh()).access_token;
    } catch (e) {
      if (e instanceof SessionEnded) return this.#end(e);
      return this.#scheduleReconnect();
    }
    this.authError = null;
    if (this.stopped) return;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/ws`;
    const ws = new WebSocket(url);
    this.ws = ws;
    const since = Math.max(this.since() || 0, this.resumeFrom);
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token, since, protocol: PROTOCOL_VERSION }));
    ws.onmessage = (e) => this.#onFrame(e.data);
    ws.onclose = () => this.#onClose(ws);
    ws.onerror = () => {};
  }

  #onFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === 'ready') {
      sessionStorage.removeItem(RELOADED_FOR_PROTOCOL);
      this.held = null;
      this.ready = true;
      this.attempt = 0;
      this.retryAt = 0;
      this.#startPing();
      this.#emitState();
    } else if (frame.type === 'caught_up') {
      this.held = Number.isSafeInteger(frame.seq) ? frame.seq : null;
      this.resumeFrom = 0;
    } else if (this.held !== null && streamSeq(frame) !== null) {
      const seq = streamSeq(frame);
      if (seq > this.held + 1) return this.#resume(seq);
      this.held = Math.max(this.held, seq);
    } else if (frame.type === 'pong') {
      clearTimeout(this.pongTimer);
      return;
    } else if (frame.type === 'error' && ENDS_SESSION.has(frame.code)) {
      this.authError = frame.code;
      this.authMessage = typeof frame.message === 'string' ? frame.message : '';
    } else if (frame.type === 'error' && frame.code === 'too_many_connections') {
      this.attempt = Math.max(this.attempt, 3);
    } else if (frame.type === 'error' && frame.code === 'unsupported_protocol') {
      // This page is older or newer than the server (it changed while the page was open):
      // the page the server serves speaks its version. Load that once; if it did not help,
      // stop rather than retry what cannot work.
      this.stop();
      console.warn(frame.message);
      if (!sessionStorage.getItem(RELOADED_FOR_PROTOCOL)) {
        sessionStorage.setItem(RELOADED_FOR_PROTOCOL, '1');
        location.reload();
      }
      this.#emitState();
    }
    this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
  }

  #onClose(ws) {
    if (ws !== this.ws) return;
    this.ws = null;
    const wasReady = this.ready;
    this.ready = false;
    this.#stopPing();
    if (this.stopped) return;
    if (this.authError === 'session_revoked') return this.#end(new SessionEnded(revokedText(this.authMessage)));
    if (wasReady) this.attempt = 0;
    this.#scheduleReconnect();
  }

  /** A live event skipped a seq: drop this connection (and what else it brings), and connect
   * again resuming from the last contiguous seq. */
  #resume(got) {
    const ws = this.ws;
    console.warn(`missed stream events ${this.held + 1} to ${got - 1}; resuming from ${this.held}`);
    this.resumeFrom = this.held;
    this.held = null;
    this.ws = null;
    this.ready = false;
    this.#stopPing();
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      ws.close();
    }
    this.#emitState();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.#connect(), Math.round(Math.random() * GAP_JITTER_MS));
  }

  #scheduleReconnect() {
    if (this.stopped) return;
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this.#emitState();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.#connect(), delay);
  }

  #end(error) {
    this.stop();
    this.dispatchEvent(new CustomEvent('ended', { detail: error }));
  }

  #startPing() {
    this.#stopPing();
    this.pingTimer = setInterval(() => {
      if (!this.#send({ type: 'ping' })) return;
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => this.ws?.close(), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  #stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }
}
