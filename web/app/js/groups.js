// Group conversations' membership (docs/PROTOCOL.md §17): each group's chain of signed
// changes, verified here from its first change (crypto/group.js), and the members' identity
// keys checked against this browser's pins (a user without a pin is pinned from the chain;
// a different key refuses the group until the key is accepted). Messages are encrypted only
// to, and accepted only from, the members of the state verified here. Also: making the
// changes (create, add, remove, admin, unadmin, leave) on the verified head, again on the new
// head after a conflict; the group's name and colour (the latest meta message); and who read
// what (the members' `read` positions). Emits 'change' ({ id }) when a group changed.
//
// Kept in the account's state (IndexedDB, beside the pins): per group the changes verified
// so far, its meta and the members' read positions. The chain is verified again on load.

import * as b64 from './crypto/b64.js';
import { equal } from './crypto/bytes.js';
import { GroupState, signChange } from './crypto/group.js';
import { CryptoError } from './crypto/errors.js';

/** A group action that cannot be made (any more); its message is for the user. */
export class GroupActionError extends Error {
  constructor(message) {
    super(message);
    this.name = 'GroupActionError';
  }
}

/** How often a change is made again on a new head after conflicts before giving up. */
const CONFLICT_RETRIES = 4;

const transport = (signed) => ({ change: b64.encode(signed.bytes), sig: b64.encode(signed.sig) });
const fromTransport = (t) => ({ bytes: b64.decode(t.change), sig: b64.decode(t.sig, 64) });

export class Groups extends EventTarget {
  constructor(api, chat) {
    super();
    this.api = api;
    this.chat = chat;
    this.me = chat.me;
    chat.state.groups ??= {};
    this.records = chat.state.groups;
    // id → { id, state (GroupState or null), refused: { code, message, user } | null, chainError, gone }
    this.entries = new Map();
    this.syncing = new Map();
  }

  /** Verifies again every chain this browser kept. */
  async load() {
    for (const id of Object.keys(this.records)) {
      if (!this.records[id].changes.length) continue;
      const entry = this.#entry(id);
      try {
        let state = null;
        for (const signed of this.records[id].changes.map(fromTransport)) {
          state = state ? await state.apply(signed) : await GroupState.genesis(signed);
          entry.states.push(state);
        }
        if (!state) throw new CryptoError('GroupChange', 'the chain is empty');
        entry.state = state;
        await this.#checkPins(entry);
      } catch (e) {
        entry.state = null;
        entry.chainError = e.message;
      }
    }
  }

  #entry(id) {
    if (!this.entries.has(id)) this.entries.set(id, { id, state: null, states: [], refused: null, chainError: null, gone: false });
    this.records[id] ??= { changes: [], meta: null, read: {} };
    return this.entries.get(id);
  }

  #changed(id) {
    this.dispatchEvent(new CustomEvent('change', { detail: { id } }));
  }

  /** Whether `id` is a group this browser knows. */
  has(id) {
    return this.entries.has(id);
  }

  ids() {
    return [...this.entries.keys()];
  }

  get(id) {
    return this.entries.get(id) || null;
  }

  /** The verified state when it may be used (no key mismatch), else null. */
  usable(id) {
    const entry = this.entries.get(id);
    return entry && !entry.refused ? entry.state : null;
  }

  /** Whether I am a member of the verified state. */
  isMember(id, user = this.me) {
    const entry = this.entries.get(id);
    // A group the server no longer lists for me and whose chain it no longer shows me.
    if (user === this.me && entry?.gone) return false;
    return !!entry?.state?.isMember(user);
  }

  amAdmin(id) {
    return !!this.entries.get(id)?.state?.members.get(this.me)?.admin;
  }

  /** [{ userId, ik, admin }] of the verified state, admins first, then in user id order. */
  members(id) {
    const state = this.entries.get(id)?.state;
    if (!state) return [];
    return [...state.members].map(([userId, m]) => ({ userId, ik: m.ik, admin: m.admin })).sort((a, b) => Number(b.admin) - Number(a.admin));
  }

  /** The latest { name, color, ts, by } of a group, or null. */
  meta(id) {
    return this.records[id]?.meta || null;
  }

  /** Records a meta message (the latest one wins); returns whether it changed anything. */
  setMeta(id, meta, ts, by) {
    const record = this.records[id];
    if (!record || (record.meta && record.meta.ts >= ts)) return false;
    record.meta = { name: meta.name, color: meta.color, ts, by };
    this.chat.persist();
    this.#changed(id);
    return true;
  }

  /** A member's read position in a group (a server time). */
  readOf(id, user) {
    return this.records[id]?.read?.[user] || 0;
  }

  setRead(id, user, upTo) {
    const record = this.records[id];
    if (!record) return;
    record.read ??= {};
    if ((record.read[user] || 0) >= upTo) return;
    record.read[user] = upTo;
    this.chat.persist();
  }

  /** The other members (of the verified state) who read up to server time `ts`. */
  readBy(id, ts) {
    return this.members(id).filter((m) => m.userId !== this.me && this.readOf(id, m.userId) >= ts).map((m) => m.userId);
  }

  // ---- the chain ---------------------------------------------------------------------------

  /** Asks the server which groups I am in and brings every known chain up to date. */
  async refresh() {
    const listed = await this.api.groups();
    const ids = new Set(listed.map((g) => g.group_id));
    for (const g of listed) {
      const entry = this.#entry(g.group_id);
      entry.gone = false;
      if (!entry.state || entry.state.seq < g.seq) await this.sync(g.group_id).catch((e) => console.warn('group chain', e?.code || e));
    }
    // A group I am no longer listed in: its chain says why (a removal or my leave).
    for (const id of this.ids()) {
      if (!ids.has(id) && this.isMember(id)) await this.sync(id).catch(() => this.#markGone(id));
    }
    return [...ids];
  }

  #markGone(id) {
    const entry = this.entries.get(id);
    if (entry && !entry.gone) {
      entry.gone = true;
      this.#changed(id);
    }
  }

  /**
   * Fetches the changes after the verified head, verifies each on the state before it and
   * checks the members' keys against the pins. One sync per group at a time.
   */
  sync(id) {
    if (!this.syncing.has(id)) {
      const run = this.#sync(id).finally(() => this.syncing.delete(id));
      this.syncing.set(id, run);
    }
    return this.syncing.get(id);
  }

  async #sync(id) {
    const entry = this.#entry(id);
    const record = this.records[id];
    const from = entry.state ? entry.state.seq + 1 : 0;
    if (!entry.state && record.changes.length) return; // a kept chain that no longer verifies: refused
    const page = await this.api.groupChanges(id, from);
    entry.syncedAt = Date.now();
    let state = entry.state;
    const added = [];
    try {
      for (const t of page.changes) {
        const signed = fromTransport(t);
        state = state ? await state.apply(signed) : await GroupState.genesis(signed);
        if (state.groupId !== id) throw new CryptoError('GroupChange', 'the chain belongs to another group');
        added.push({ change: t.change, sig: t.sig });
        entry.states.push(state);
      }
      entry.chainError = null;
      if (state?.isMember(this.me)) entry.gone = false;
    } catch (e) {
      // The change that does not verify is refused; the state before it stays.
      entry.chainError = `The server sent a change to this group that does not verify (${e.message}). It was refused.`;
      console.warn('group change refused', id, e.message);
    }
    if (added.length) {
      record.changes.push(...added);
      entry.state = state;
      this.chat.persist();
    }
    await this.#checkPins(entry);
    this.#changed(id);
    return entry.state;
  }

  /**
   * Every member's key must be the one pinned for that user: a user without a pin is pinned
   * from the chain (trust on first use); a different key refuses the group.
   */
  async #checkPins(entry) {
    entry.refused = null;
    if (!entry.state) return;
    let pinned = false;
    try {
      await entry.state.checkPins((user) => this.chat.pinned(user));
    } catch (e) {
      if (e.code !== 'GroupKeyMismatch') throw e;
      // The pin changes only through the 1:1 key-change warning (the directory's new key,
      // accepted by the user); a chain naming another key stays refused until then.
      entry.refused = { code: e.code, message: e.message, user: e.user };
      if (e.user !== this.me) this.chat.contactKeys(e.user).catch(() => {});
      return;
    }
    for (const [user, m] of entry.state.members) {
      if (user !== this.me && !this.chat.pin(user)) {
        this.chat.state.pins[user] = { ik: b64.encode(m.ik), verified: false, changedTo: null };
        pinned = true;
      }
    }
    if (pinned) this.chat.flush().catch(() => {});
  }

  /** Checks the pins of every group again (after a key was accepted). */
  async recheckPins() {
    for (const entry of this.entries.values()) {
      const paused = !!entry.refused;
      await this.#checkPins(entry).catch(() => {});
      this.dispatchEvent(new CustomEvent('change', { detail: { id: entry.id, unpaused: paused && !entry.refused } }));
    }
  }

  // ---- judging a message -------------------------------------------------------------------

  /**
   * The state a group message from `from` with `header` is opened against ({ id, state }, for
   * chat.open), or null when it must be refused. A live message is judged by the newest
   * verified state: its sender and everyone it is wrapped for must be members (the chain is
   * fetched again first when they are not). A message from history may come from an earlier
   * membership: it is judged by the first verified state that holds its sender and all its
   * recipients.
   */
  async judge(id, from, header, { live = true } = {}) {
    const fits = (state) => !!state && state.isMember(from) && header.wraps.every((w) => state.isMember(w.userId));
    const entry = this.#entry(id);
    // History may hold many messages of earlier members: the chain is asked again at most
    // every few seconds for them; a live message that does not fit always asks.
    if (!fits(entry.state) && (live || Date.now() - (entry.syncedAt || 0) > 5000)) await this.sync(id).catch(() => {});
    if (entry.refused || !entry.state) return null;
    if (fits(entry.state)) return { id, state: entry.state };
    if (live) return null;
    const earlier = entry.states.find(fits);
    return earlier ? { id, state: earlier } : null;
  }

  // ---- sending ----------------------------------------------------------------------------

  /**
   * The keys a group message is wrapped for: every active key of every other member of the
   * verified state, in member order (my own keys are added by the seal). Members whose
   * accounts were deleted are left out.
   */
  async recipients(id, isDeleted = () => false) {
    const entry = this.entries.get(id);
    if (!entry?.state) throw new GroupActionError('This group could not be verified.');
    await this.#checkPins(entry);
    if (entry.refused) throw new CryptoError('IdentityKeyChanged', 'a member’s security key changed');
    if (!entry.state.isMember(this.me)) throw new GroupActionError('You are no longer a member of this group.');
    const others = [...entry.state.members].filter(([user]) => user !== this.me && !isDeleted(user));
    const keys = await Promise.all(others.map(async ([user, m]) => {
      try {
        const active = await this.chat.contactKeys(user);
        if (!equal(this.chat.pinned(user), m.ik)) throw new CryptoError('IdentityKeyChanged', 'a member’s security key changed');
        return active;
      } catch (e) {
        if (e.status === 404) return []; // the account was deleted meanwhile
        throw e;
      }
    }));
    return keys.flat();
  }

  // ---- changes ------------------------------------------------------------------------------

  #author() {
    return { privateKey: this.chat.keys.identityPrivate, publicKey: this.chat.keys.identityPublic };
  }

  /** A user's identity key for a change: the pinned one (pinned from the directory on first use). */
  async #keyOf(user) {
    if (!this.chat.pinned(user)) await this.chat.contactKeys(user);
    if (this.chat.pin(user)?.changedTo) throw new GroupActionError('This contact’s security key changed: accept or verify it in your conversation with them first.');
    return this.chat.pinned(user);
  }

  /** Makes a new group with me (as its admin) and `users`; returns its id (a random UUIDv4). */
  async create(users) {
    const id = crypto.randomUUID();
    const members = [{ userId: this.me, ik: this.chat.keys.identityPublic, admin: true }];
    for (const user of users) members.push({ userId: user, ik: await this.#keyOf(user), admin: false });
    const change = { groupId: id, seq: 0, prev: null, author: this.me, authorIk: this.chat.keys.identityPublic, atMs: Date.now(), op: 'create', members };
    const signed = await signChange(change, this.#author());
    const state = await GroupState.genesis(signed);
    await this.api.postGroupChange(id, transport(signed));
    const entry = this.#entry(id);
    this.records[id].changes = [transport(signed)];
    entry.state = state;
    entry.states = [state];
    await this.#checkPins(entry);
    await this.chat.flush();
    this.#changed(id);
    return id;
  }

  /** The members a change names on `state`, or a GroupActionError when it no longer applies. */
  async #named(state, op, users, name) {
    const members = state.members;
    const named = [];
    for (const user of users) {
      const m = members.get(user);
      const who = name(user);
      switch (op) {
        case 'add':
          if (m) throw new GroupActionError(`${who} is a member already.`);
          named.push({ userId: user, ik: await this.#keyOf(user), admin: false });
          break;
        case 'remove':
          if (!m) throw new GroupActionError(`${who} is no longer a member.`);
          named.push({ userId: user, ik: m.ik, admin: m.admin });
          break;
        case 'admin':
          if (!m) throw new GroupActionError(`${who} is no longer a member.`);
          if (m.admin) throw new GroupActionError(`${who} is an admin already.`);
          named.push({ userId: user, ik: m.ik, admin: true });
          break;
        case 'unadmin':
          if (!m) throw new GroupActionError(`${who} is no longer a member.`);
          if (!m.admin) throw new GroupActionError(`${who} is not an admin any more.`);
          named.push({ userId: user, ik: m.ik, admin: false });
          break;
        case 'leave':
          if (!m) throw new GroupActionError('You are no longer a member of this group.');
          if (m.admin && members.size > 1 && ![...members].some(([u, o]) => u !== this.me && o.admin)) {
            throw new GroupActionError('You are the only admin: make another member an admin first.');
          }
          named.push({ userId: user, ik: m.ik, admin: m.admin });
          break;
        default:
          throw new GroupActionError('Unknown action.');
      }
    }
    if (op !== 'leave' && op !== 'add' && !members.get(this.me)?.admin) throw new GroupActionError('Only an admin can do this.');
    if (op === 'add' && !members.get(this.me)?.admin) throw new GroupActionError('Only an admin can add members.');
    return named;
  }

  /**
   * Makes a change (`op` on `users`; leave: me) on the verified head. When another change came
   * first (409 group_conflict) the chain is fetched and verified again and the change made
   * again on the new head if it still applies; otherwise a GroupActionError says why.
   * `name(userId)` names users in those messages.
   */
  async change(id, op, users, name = (u) => u) {
    for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
      const entry = this.#entry(id);
      await this.sync(id);
      if (entry.refused) throw new GroupActionError('A member’s security key changed: this group is paused until you accept it.');
      const state = entry.state;
      if (!state) throw new GroupActionError('This group could not be verified.');
      if (!state.isMember(this.me)) throw new GroupActionError('You are no longer a member of this group.');
      const members = await this.#named(state, op, op === 'leave' ? [this.me] : users, name);
      const change = { groupId: id, seq: state.seq + 1, prev: state.head, author: this.me, authorIk: this.chat.keys.identityPublic, atMs: Date.now(), op, members };
      const signed = await signChange(change, this.#author());
      // The same rules as every member will apply (texts as Rust's), before the server sees it.
      const next = await state.apply(signed);
      try {
        await this.api.postGroupChange(id, transport(signed));
      } catch (e) {
        if (e.status === 409 && e.code === 'group_conflict') continue;
        throw e;
      }
      // Another change may have been verified while this one was posted: fetch it in order.
      if (entry.state !== state) {
        await this.sync(id);
      } else {
        this.records[id].changes.push(transport(signed));
        entry.state = next;
        entry.states.push(next);
        this.chat.persist();
        await this.#checkPins(entry);
        this.#changed(id);
      }
      return entry.state;
    }
    throw new GroupActionError('Other changes to this group keep coming first. Try again in a moment.');
  }
}
