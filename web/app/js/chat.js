// End-to-end encrypted 1:1 conversations (mirrors crates/client/src/chat.rs): pinning
// contacts' identity keys on first use, sealing messages, files and tombstones, and opening
// what arrives with the full verification procedure of docs/PROTOCOL.md §8.

import * as b64 from './crypto/b64.js';
import { equal } from './crypto/bytes.js';
import { directConvId, timeOrderedMsgId } from './crypto/ids.js';
import { parseIdentityKey } from './crypto/identity.js';
import { verifyPublishedKey } from './crypto/binding.js';
import { seal } from './crypto/envelope/seal.js';
import { open } from './crypto/envelope/open.js';
import { peekHeader } from './crypto/envelope/envelope.js';
import { authorizeDelete } from './crypto/envelope/tombstone.js';
import { CryptoError } from './crypto/errors.js';
import * as store from './store.js';

/**
 * How far a sender's clock may run behind the server's before its self-destructing messages
 * expire early (docs/PROTOCOL.md §8.4): a message never outlives its signed `sent_at` +
 * `expires_in_ms` + this, whatever receive time the server states.
 */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;

/** When a message self-destructs: the server's receive time + delay, bounded by the signed send time. */
export function expiryOf(header, serverReceivedAt) {
  if (header.expiresInMs === null || header.expiresInMs === undefined) return null;
  return Math.min(serverReceivedAt + header.expiresInMs, header.sentAt + header.expiresInMs + CLOCK_SKEW_MS);
}

/**
 * A group message is judged against the membership I verified: its sender and every user
 * it is wrapped for must be members of that state (docs/PROTOCOL.md §17.4).
 */
export function checkGroupMembers(header, state) {
  if (!state?.isMember(header.sender)) throw new CryptoError('NotAGroupMember', 'the sender is not a member of the group');
  if (!header.wraps.every((w) => state.isMember(w.userId))) throw new CryptoError('WrappedForOutsider', 'the message is wrapped for someone outside the group');
}

function emptyState(userId) {
  return { userId, pins: {}, counters: {}, lastSeq: 0, readUpTo: {}, peerRead: {} };
}

export class Chat {
  constructor(api, keys, state) {
    this.api = api;
    this.keys = keys;
    this.state = state;
    this.recipients = new Map();
    this.convIds = new Map();
    this.saveTimer = null;
  }

  static async load(api, keys) {
    const state = (await store.loadState(keys.userId)) || emptyState(keys.userId);
    return new Chat(api, keys, { ...emptyState(keys.userId), ...state });
  }

  get me() {
    return this.keys.userId;
  }

  /**
   * Saves the state soon (pins, counters, cursor, read positions): within 150 ms of the first
   * change not saved yet. Later changes ride along rather than push the save back, so a busy
   * conversation (each message persists) cannot keep a change unsaved until the page closes.
   */
  persist() {
    if (this.closed || this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      store.saveState(this.state).catch(() => {});
    }, 150);
  }

  /** Saves the state now (a setting the user just chose). */
  async flush() {
    clearTimeout(this.saveTimer);
    this.saveTimer = null;
    await store.saveState(this.state);
  }

  async convId(peer) {
    if (!this.convIds.has(peer)) this.convIds.set(peer, await directConvId(this.me, peer));
    return this.convIds.get(peer);
  }

  /** The pinned identity key of a user (my own is my key), or null. */
  pinned(userId) {
    if (userId === this.me) return this.keys.identityPublic;
    const pin = this.state.pins[userId];
    return pin ? b64.decode(pin.ik, 32) : null;
  }

  /** { ik, verified, changedTo } of a contact's pin, or null. */
  pin(userId) {
    return this.state.pins[userId] || null;
  }

  /**
   * Fetches a contact's keys, pins the identity key on first use, refuses a changed one
   * (recording it, so the UI can warn), and returns the active keys whose bindings verify.
   */
  async contactKeys(peer) {
    let keys;
    try {
      keys = await this.api.userKeys(peer);
    } catch (e) {
      // The server unreachable (a network error), or up without its database (503, as during
      // a failover): the keys this tab already verified still hold, so the message is sealed
      // and sent; the server stores it or refuses it as retryable, and the queue retries.
      const away = e instanceof TypeError || e?.status === 503;
      if (away && this.recipients.has(peer)) return this.recipients.get(peer);
      throw e;
    }
    const identity = parseIdentityKey(keys.identity_key);
    const pin = this.state.pins[peer];
    if (!pin) {
      this.state.pins[peer] = { ik: keys.identity_key, verified: false, changedTo: null };
      this.persist();
    } else if (!equal(b64.decode(pin.ik, 32), identity)) {
      if (pin.changedTo !== keys.identity_key) {
        pin.changedTo = keys.identity_key;
        this.persist();
      }
      throw new CryptoError('IdentityKeyChanged', "this contact's security key changed");
    }
    const active = [];
    for (const record of keys.encryption_keys.filter((k) => k.status === 'active')) {
      const verified = await verifyPublishedKey(identity, peer, record);
      active.push({ userId: peer, publicKey: verified.publicKey, keyId: verified.keyId });
    }
    if (!active.length) throw new CryptoError('NoActiveKey', 'the contact has no valid active key');
    this.recipients.set(peer, active);
    return active;
  }

  /** Trusts a contact's new identity key after a change (and clears "verified"). */
  acceptNewKey(peer, verified = false) {
    const pin = this.state.pins[peer];
    if (!pin?.changedTo) return;
    this.state.pins[peer] = { ik: pin.changedTo, verified, changedTo: null };
    this.recipients.delete(peer);
    // Trust decisions are saved at once, not debounced: a tab closed within the debounce
    // would otherwise forget them.
    this.flush().catch(() => {});
  }

  setVerified(peer, verified) {
    const pin = this.state.pins[peer];
    if (pin) {
      pin.verified = verified;
      this.flush().catch(() => {});
    }
  }

  /** Seals content for `peer`: { envelope, msgId (base64url), convId }. */
  async seal(peer, content, options = {}) {
    if (this.state.pins[peer]?.changedTo) throw new CryptoError('IdentityKeyChanged', "this contact's security key changed");
    const recipients = await this.contactKeys(peer);
    return this.sealTo(await this.convId(peer), recipients, content, options);
  }

  /**
   * Seals content for a conversation and the keys of its other side (a group: every active
   * key of every other member of the verified state, groups.js), then my own keys.
   */
  async sealTo(convId, recipients, content, { hidden = false, expiresInMs = null } = {}) {
    const counter = (this.state.counters[convId] || 0) + 1;
    this.state.counters[convId] = counter;
    this.persist();
    const now = Date.now();
    const sealed = await seal(
      { userId: this.me, identityPrivate: this.keys.identityPrivate, identityPublic: this.keys.identityPublic, ownKeys: this.keys.activePublic() },
      { msgId: timeOrderedMsgId(now), convId, senderCtr: counter, sentAt: now, expiresInMs, hidden, content, recipients },
    );
    const msgId = b64.encode(sealed.msgId);
    await store.saveSeen({ userId: this.me, msgId, convId, sender: this.me, removed: false });
    return { envelope: sealed.envelope, msgId, convId, sentAt: now };
  }

  /**
   * Verifies and decrypts a delivered envelope (`from` and `ts` as the server said). `peer`
   * is the conversation for my own copies when known. Tombstones are authorised against the
   * message they delete. A message this browser saw removed is refused (replay).
   * `group` = { id, state } opens a group message against the membership I verified
   * (groups.js): its sender and everyone it is wrapped for must be members of that state,
   * and a tombstone may come from the message's sender or an admin of it.
   * Returns { msgId, header, hidden, content, expiresAt, peer }.
   */
  async open(from, ts, envelope, { peer = null, group = null } = {}) {
    const header = peekHeader(envelope);
    let other;
    if (group) {
      checkGroupMembers(header, group.state);
      other = group.id;
    } else {
      other = from === this.me ? peer || header.wraps.map((w) => w.userId).find((u) => u !== this.me) || from : from;
    }
    if (!this.pinned(from)) await this.contactKeys(from);
    const msgId = b64.encode(header.msgId);
    const seen = await store.loadSeen(this.me, msgId);
    const opened = await open(
      envelope,
      { userId: this.me, keys: this.keys.receiverKeys() },
      { sender: from, convId: group ? group.id : await this.convId(other), serverReceivedAt: ts },
      Date.now(),
      (user) => this.pinned(user),
      () => !!seen?.removed,
    );
    // The receive time is the server's word, unsigned: bound the expiry by the signed sent_at.
    const expiresAt = expiryOf(opened.header, ts);
    if (expiresAt !== null && expiresAt < Date.now()) throw new CryptoError('Expired');
    if (header.kind === 'delete') {
      const target = await store.loadSeen(this.me, b64.encode(header.ref));
      if (!target) throw new CryptoError('UnknownTarget', 'the tombstone names an unknown message');
      const byAdmin = group && header.sender !== target.sender && group.state.members.get(header.sender)?.admin;
      // An admin of the group may delete anyone's message: its tombstone names the target
      // as any tombstone does, only its signer is the admin instead of the sender.
      authorizeDelete(opened, { msgId: header.ref, convId: target.convId, sender: byAdmin ? header.sender : target.sender });
    } else if (!seen) {
      await store.saveSeen({ userId: this.me, msgId, convId: header.convId, sender: header.sender, removed: false });
    }
    return { msgId, header: opened.header, hidden: opened.hidden, content: opened.content, expiresAt, peer: other, group: !!group };
  }

  /**
   * Opens and authorises a tombstone the server delivered as removing `named` (base64url):
   * it must sign that very id (its `ref`), from the sender of the message (§8.3), or it
   * removes nothing. Returns { target } (the message id to remove).
   */
  async openTombstone(from, envelope, named, { peer = null, group = null } = {}) {
    const header = peekHeader(envelope);
    if (header.kind !== 'delete') throw new CryptoError('NotATombstone');
    // In a group the server names the deleted message's sender; the tombstone may be an
    // admin's, so its own signed sender is the one it is opened as (and judged above).
    const opened = await this.open(group ? header.sender : from, Date.now(), envelope, { peer, group });
    const target = b64.encode(opened.header.ref);
    if (target !== named) throw new CryptoError('TombstoneTargetMismatch', 'the tombstone signs another message id');
    return { target };
  }

  /** Records that a message is gone (deleted or expired): it is never shown again. */
  async markRemoved(msgId) {
    const record = (await store.loadSeen(this.me, msgId)) || { userId: this.me, msgId, convId: '', sender: '' };
    await store.saveSeen({ ...record, removed: true });
  }
}
