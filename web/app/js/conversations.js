// The conversations of the logged-in user: contacts and presence, messages (decrypted in
// memory only), history with scroll-back, live events from the socket, the outbox that
// sends what was typed (also while offline), receipts, deletes and self-destruct timers.
// Views listen to 'contacts', 'change' ({ peer }) and 'status' events. A deleted account
// stays known (its conversation shows it is deleted) but is not offered as a new contact.
// Group conversations are keyed by their group id where 1:1 ones are keyed by the peer's user
// id; their membership is verified in groups.js and every group message is judged by it.

import * as b64 from './crypto/b64.js';
import { decryptFile, encryptFile } from './crypto/file_stream.js';
import { CryptoError } from './crypto/errors.js';
import { peekHeader } from './crypto/envelope/envelope.js';
import { SessionEnded } from './api.js';
import { expiryOf } from './chat.js';
import { ConversationPrefs } from './conversation-prefs.js';
import { Groups } from './groups.js';

const HISTORY_PAGE = 30;
/**
 * A new browser resumes the stream from the oldest message it loaded, at most this many
 * entries back: the replay brings the peers' read receipts since then (a read mark on my
 * messages); the messages in it are the ones already shown and are deduplicated.
 */
const FRESH_REPLAY = 2000;
/** How long a message the server could not store waits before it goes again. */
const UNAVAILABLE_RETRY_MS = 3000;
export const MAX_FILE_BYTES = 100 * 1024 * 1024;
let localCounter = 0;

export class Conversations extends EventTarget {
  constructor(api, chat, socket) {
    super();
    this.api = api;
    this.chat = chat;
    this.socket = socket;
    this.me = chat.me;
    this.users = new Map();
    this.convs = new Map();
    this.outbox = [];
    this.queue = Promise.resolve();
    this.tick = null;
    this.active = null;
    // A setting the user chose is saved at once (a reload right after keeps it).
    this.prefs = new ConversationPrefs(chat.state, () => {
      if (!chat.closed) chat.flush().catch(() => {});
    });
    this.groups = new Groups(api, chat);
    this.groups.addEventListener('change', (e) => {
      this.#changed(e.detail.id);
      // A group that was paused for a member's key shows its messages again.
      if (e.detail.unpaused) this.reload(e.detail.id).catch(() => {});
    });
    socket.addEventListener('frame', (e) => this.#enqueue(() => this.#onFrame(e.detail)));
    socket.addEventListener('state', () => {
      if (socket.online) {
        this.#pump();
        // Presence changes while offline were missed: ask again.
        this.refreshUsers().catch(() => {});
      } else {
        for (const u of this.users.values()) u.online = false;
        this.dispatchEvent(new Event('contacts'));
      }
      this.dispatchEvent(new Event('status'));
    });
  }

  // ---- contacts --------------------------------------------------------------------------

  /** Loads the directory and the newest page of every conversation. */
  async init() {
    await this.refreshUsers();
    await this.groups.load();
    await this.groups.refresh().catch((e) => {
      if (e instanceof SessionEnded) throw e;
    });
    const peers = [...this.users.keys()].filter((id) => id !== this.me).concat(this.groups.ids());
    let maxSeq = 0;
    const worker = async () => {
      while (peers.length) {
        const peer = peers.pop();
        try {
          // (Awaited first: `Math.max(maxSeq, await …)` would read maxSeq before the await and
          // lose what the other workers found meanwhile.)
          const seq = await this.loadOlder(peer, true);
          maxSeq = Math.max(maxSeq, seq);
        } catch (e) {
          if (e instanceof SessionEnded) throw e;
          this.conv(peer).error = 'Could not load this conversation.';
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    if (!this.chat.state.lastSeq) {
      const oldest = Math.min(maxSeq, ...[...this.convs.values()].map((c) => c.oldestSeq ?? maxSeq));
      this.chat.state.lastSeq = Math.max(0, oldest - 1, maxSeq - FRESH_REPLAY);
    }
    this.tick = setInterval(() => this.#expire(), 1000);
    this.#checkPinnedKeys();
  }

  /** Compares every pinned contact's key with the directory, so a change shows at once. */
  async #checkPinnedKeys() {
    for (const peer of Object.keys(this.chat.state.pins)) {
      if (!this.users.has(peer) || this.users.get(peer).deleted) continue;
      try {
        await this.chat.contactKeys(peer);
      } catch {
        // a changed key is recorded on the pin and shown
      }
    }
    this.dispatchEvent(new Event('contacts'));
  }

  stop() {
    clearInterval(this.tick);
  }

  async refreshUsers() {
    const list = await this.api.users();
    for (const u of list) {
      const known = this.users.get(u.id);
      this.users.set(u.id, { ...(known || {}), id: u.id, username: u.username, online: u.online, deleted: u.deleted === true });
    }
    this.dispatchEvent(new Event('contacts'));
  }

  username(id) {
    if (this.groups.has(id)) return this.groupName(id);
    return this.users.get(id)?.username || 'unknown user';
  }

  /** Whether a conversation key is a group's id. */
  isGroup(id) {
    return this.groups.has(id);
  }

  /** A group's name: its latest meta name, else its other members' names. */
  groupName(id) {
    const meta = this.groups.meta(id);
    if (meta) return meta.name;
    const others = this.groups.members(id).filter((m) => m.userId !== this.me).map((m) => this.users.get(m.userId)?.username || 'unknown user');
    return others.length ? others.sort().join(', ') : 'Group';
  }

  /** Whether a user's account was deleted. */
  deleted(id) {
    return !!this.users.get(id)?.deleted;
  }

  /**
   * Contacts (everyone but me, deleted accounts too) and groups, with last message and unread
   * count, newest first. A group is { id, group: true, username: its name, color, member, … }.
   */
  contacts() {
    const users = [...this.users.values()]
      .filter((u) => u.id !== this.me)
      .map((u) => {
        const conv = this.conv(u.id);
        const last = this.messages(u.id).at(-1) || null;
        return { ...u, last, unread: this.unread(u.id), keyChanged: !!this.chat.pin(u.id)?.changedTo, loaded: conv.loaded };
      });
    const groups = this.groups.ids().filter((id) => this.groups.get(id).state || this.conv(id).messages.size).map((id) => {
      const entry = this.groups.get(id);
      const last = this.messages(id).at(-1) || null;
      return {
        id, group: true, username: this.groupName(id), color: this.groups.meta(id)?.color || null, online: false, deleted: false,
        member: this.groups.isMember(id), last, unread: this.unread(id), keyChanged: !!entry.refused, loaded: this.conv(id).loaded,
      };
    });
    return [...users, ...groups].sort((a, b) => (b.last?.ts || 0) - (a.last?.ts || 0) || a.username.localeCompare(b.username));
  }

  conv(peer) {
    if (!this.convs.has(peer)) {
      this.convs.set(peer, { peer, messages: new Map(), nextBefore: null, hasMore: true, loaded: false, loading: false, error: null });
    }
    return this.convs.get(peer);
  }

  /** The messages of a conversation in display order. */
  messages(peer) {
    return [...this.conv(peer).messages.values()].sort((a, b) => a.order - b.order);
  }

  /**
   * The server time up to which I have read `peer`'s messages: the newest read receipt this
   * browser knows of (its own, or another session's echo), and at least the time of my own
   * newest sent message (whoever replies has read what came before). A new browser knows no
   * receipts of mine (the server keeps none in my stream), so the second rule is what keeps
   * a whole history page from counting as unread there.
   */
  readPosition(peer) {
    let mine = 0;
    for (const m of this.conv(peer).messages.values()) if (m.mine && (m.seq || m.acked) && m.ts > mine) mine = m.ts;
    return Math.max(this.chat.state.readUpTo[peer] || 0, mine);
  }

  unread(peer) {
    const since = this.readPosition(peer);
    // A group's naming is a notice, not a message to read.
    return this.messages(peer).filter((m) => !m.mine && m.type !== 'meta' && m.ts > since).length;
  }

  #changed(peer) {
    this.dispatchEvent(new CustomEvent('change', { detail: { peer } }));
    this.dispatchEvent(new Event('contacts'));
  }

  // ---- messages --------------------------------------------------------------------------

  #find(msgId) {
    for (const conv of this.convs.values()) {
      const m = conv.messages.get(msgId);
      if (m) return m;
    }
    return null;
  }

  #statusOf(m) {
    if (!m.mine) return null;
    if (m.error) return 'failed';
    if (!m.seq && !m.acked) return 'sending';
    if (this.groups.has(m.peer)) {
      const others = this.groups.members(m.peer).filter((x) => x.userId !== this.me).length;
      return others && this.groups.readBy(m.peer, m.ts).length >= others ? 'read' : 'sent';
    }
    return m.ts <= (this.chat.state.peerRead[m.peer] || 0) ? 'read' : 'sent';
  }

  /** The names of the other members who read my group message `m` ("who read it"). */
  readBy(m) {
    if (!this.groups.has(m.peer) || !m.mine || !m.ts || m.status === 'sending') return [];
    return this.groups.readBy(m.peer, m.ts).map((id) => this.username(id)).sort();
  }

  /** Adds an opened message (history, replay or live). */
  #add(opened, from, ts, seq) {
    if (opened.content.type !== 'text' && opened.content.type !== 'file') return null;
    const peer = opened.group || from === this.me ? opened.peer : from;
    const conv = this.conv(peer);
    const existing = conv.messages.get(opened.msgId);
    if (existing) {
      existing.seq ||= seq;
      return existing;
    }
    if (opened.expiresAt !== null && opened.expiresAt <= Date.now()) return null;
    const m = {
      key: opened.msgId,
      id: opened.msgId,
      peer,
      mine: from === this.me,
      from,
      ts,
      order: ts,
      seq,
      sentAt: opened.header.sentAt,
      type: opened.content.type,
      body: opened.content.body,
      file: opened.content.file || null,
      hidden: opened.hidden,
      revealed: false,
      expiresAt: opened.expiresAt,
      progress: null,
      error: null,
    };
    const meta = opened.group ? opened.content.group : null;
    if (meta) {
      // The group's name and colour: shown as a notice, the latest one names the group.
      m.type = 'meta';
      m.meta = meta;
      m.body = `${from === this.me ? 'You' : this.username(from)} named the group “${meta.name}”`;
      this.groups.setMeta(peer, meta, ts, from);
    }
    m.status = this.#statusOf(m);
    conv.messages.set(m.id, m);
    return m;
  }

  /** The group state a group message is opened against ({ id, state }); refused: an error. */
  async #judge(groupId, from, envelope, live) {
    const header = peekHeader(envelope);
    const sender = header.kind === 'delete' ? header.sender : from;
    const group = await this.groups.judge(groupId, sender, header, { live });
    if (this.groups.get(groupId)?.refused) throw new CryptoError('GroupPaused', 'a member’s key is not the pinned one');
    if (!group) throw new CryptoError('NotAGroupMember', 'the message does not fit the group’s verified membership');
    return group;
  }

  /** Loads the next older page of a conversation; returns the highest seq seen. */
  async loadOlder(peer, first = false) {
    const conv = this.conv(peer);
    if (conv.loading || (!first && !conv.hasMore)) return 0;
    conv.loading = true;
    let maxSeq = 0;
    try {
      const isGroup = this.groups.has(peer);
      const page = isGroup ? await this.api.groupHistory(peer, conv.nextBefore, HISTORY_PAGE) : await this.api.history(peer, conv.nextBefore, HISTORY_PAGE);
      for (const item of page.messages) {
        maxSeq = Math.max(maxSeq, item.seq);
        conv.oldestSeq = Math.min(conv.oldestSeq ?? item.seq, item.seq);
        try {
          const group = isGroup ? await this.#judge(peer, item.from, item.envelope, false) : null;
          const opened = await this.chat.open(item.from, item.ts, item.envelope, { peer, group });
          this.#add(opened, item.from, item.ts, item.seq);
        } catch (e) {
          this.#unreadable(peer, item, e);
        }
      }
      conv.nextBefore = page.next_before ?? null;
      conv.hasMore = page.next_before != null;
      conv.loaded = true;
      conv.error = null;
    } finally {
      conv.loading = false;
      this.#changed(peer);
    }
    return maxSeq;
  }

  /** Reloads a conversation from the server (after a contact's new key was accepted). */
  async reload(peer) {
    const conv = this.conv(peer);
    for (const [key, m] of conv.messages) if (!key.startsWith('local:') && m.status !== 'sending') conv.messages.delete(key);
    conv.nextBefore = null;
    conv.hasMore = true;
    await this.loadOlder(peer, true);
  }

  /** A message that does not verify or open is shown as such, never its content. */
  #unreadable(peer, item, error) {
    if (error instanceof SessionEnded) throw error;
    const code = error?.code || 'Error';
    if (code === 'Replay' || code === 'Expired') return;
    if (code === 'IdentityKeyChanged' && item.from !== this.me) {
      this.chat.contactKeys(item.from).catch(() => this.dispatchEvent(new Event('contacts')));
    }
    const conv = this.conv(peer);
    const key = `bad:${item.seq}`;
    if (conv.messages.has(key)) return;
    const text =
      code === 'NotAGroupMember' || code === 'WrappedForOutsider' ? 'This message does not match the group’s verified members and is not shown.' :
      code === 'GroupPaused' ? 'This group is paused until a member’s changed security key is accepted: the message is not shown.' :
      code === 'IdentityKeyChanged' ? "This message is signed with a key that does not match this contact's security key." :
      code === 'NoMatchingKey' ? 'This message is encrypted to a key this browser does not have. Import your newest key file.' :
      'This message could not be verified and is not shown.';
    conv.messages.set(key, { key, id: null, peer, mine: item.from === this.me, from: item.from, ts: item.ts, order: item.ts, seq: item.seq, type: 'error', body: text, status: null, expiresAt: null });
  }

  // ---- live events -----------------------------------------------------------------------

  #enqueue(fn) {
    this.queue = this.queue.then(fn).catch((e) => {
      if (e instanceof SessionEnded) this.dispatchEvent(new CustomEvent('ended', { detail: e }));
      else console.warn('event handling failed', e);
    });
  }

  #seq(seq) {
    if (seq && seq > this.chat.state.lastSeq) {
      this.chat.state.lastSeq = seq;
      this.chat.persist();
    }
  }

  async #onFrame(f) {
    switch (f.type) {
      case 'message':
        await this.#onMessage(f);
        break;
      case 'ack':
        this.#onAck(f);
        break;
      case 'deleted':
        await this.#onDeleted(f);
        break;
      case 'read':
        this.#onRead(f);
        break;
      case 'presence': {
        // One event lists everyone who came online or went offline since the last one.
        let unknown = false;
        for (const [ids, online] of [[f.online ?? [], true], [f.offline ?? [], false]]) {
          for (const id of ids) {
            const u = this.users.get(id);
            if (u) u.online = online;
            else if (online && id !== this.me) unknown = true;
          }
        }
        if (unknown) await this.refreshUsers().catch(() => {});
        this.dispatchEvent(new Event('contacts'));
        break;
      }
      case 'caught_up':
        this.#seq(f.seq);
        this.#pump();
        // Changes made while this page was away: ask for my groups after every (re)connect.
        this.refreshGroups().catch(() => {});
        break;
      case 'group':
        // A group's membership changed (I may have been added or removed): fetch and verify.
        this.refreshGroups().catch(() => {});
        break;
      case 'error':
        this.#onError(f);
        break;
      default:
        break;
    }
  }

  /** Fetches my groups and their chains; loads the first page of a group new here. */
  async refreshGroups() {
    const known = new Set(this.groups.ids());
    await this.groups.refresh();
    for (const id of this.groups.ids()) {
      if (!known.has(id) && !this.conv(id).loaded) await this.loadOlder(id, true).catch(() => {});
    }
    this.dispatchEvent(new Event('contacts'));
  }

  async #onGroupMessage(f) {
    const id = f.group;
    if (!this.users.has(f.from)) await this.refreshUsers().catch(() => {});
    const fresh = !this.groups.has(id);
    try {
      const group = await this.#judge(id, f.from, f.envelope, true);
      const opened = await this.chat.open(f.from, f.ts, f.envelope, { group });
      const known = !!this.#find(opened.msgId);
      const m = this.#add(opened, f.from, f.ts, f.seq);
      if (fresh && !this.conv(id).loaded) this.loadOlder(id, true).catch(() => {});
      if (m) {
        this.#changed(id);
        if (!m.mine && !known) this.dispatchEvent(new CustomEvent('incoming', { detail: m }));
      }
    } catch (e) {
      if (e instanceof SessionEnded) throw e;
      if (this.groups.isMember(id) || this.groups.get(id)?.state) {
        this.#unreadable(id, f, e);
        this.#changed(id);
      }
    }
    this.#seq(f.seq);
  }

  async #onMessage(f) {
    if (f.group) return this.#onGroupMessage(f);
    if (!this.users.has(f.from)) await this.refreshUsers().catch(() => {});
    try {
      const opened = await this.chat.open(f.from, f.ts, f.envelope);
      const known = !!this.#find(opened.msgId);
      const m = this.#add(opened, f.from, f.ts, f.seq);
      if (m) {
        this.#changed(m.peer);
        if (!m.mine && !known) this.dispatchEvent(new CustomEvent('incoming', { detail: m }));
      }
    } catch (e) {
      const peer = f.from === this.me ? null : f.from;
      if (peer) {
        this.#unreadable(peer, f, e);
        this.#changed(peer);
      }
    }
    this.#seq(f.seq);
  }

  #onAck(f) {
    const item = this.outbox.find((o) => o.msgId === f.msg_id);
    if (item) this.outbox.splice(this.outbox.indexOf(item), 1);
    const m = this.#find(f.msg_id);
    if (m) {
      m.ts = f.ts;
      m.order = f.ts;
      m.seq = f.seq;
      m.acked = true;
      if (m.expiresInMs) m.expiresAt = expiryOf({ sentAt: m.sentAt, expiresInMs: m.expiresInMs }, f.ts);
      m.status = this.#statusOf(m);
      this.#changed(m.peer);
    }
    this.#seq(f.seq);
    this.#pump();
  }

  async #onDeleted(f) {
    const m = this.#find(f.msg_id);
    if (f.reason === 'deleted' && f.envelope) {
      // The tombstone removes only the message it signs (its ref), never the one the server
      // names beside it: an old tombstone replayed against another id deletes nothing.
      try {
        const group = f.group ? await this.#judge(f.group, f.from, f.envelope, false) : null;
        const tombstone = await this.chat.openTombstone(f.from, f.envelope, f.msg_id, { peer: m?.peer, group });
        await this.#remove(tombstone.target);
      } catch (e) {
        console.warn('a tombstone could not be authorised', e?.code || e);
      }
    } else if (f.reason === 'expired') {
      // An expiry is the server's word: a message goes when its own signed expiry (§8.4) has
      // come, never because the server says so earlier (that would hide it for good). One
      // that has not expired here yet is left to the local timer, unless its sender's account
      // was deleted: the server removes every message of a deleted account, without a
      // tombstone (the account's keys sign nothing any more). The directory is asked whether
      // the sender is deleted; a server could say so falsely, but it can withhold a deleted
      // account's history anyway.
      if (m?.expiresAt && m.expiresAt <= Date.now()) await this.#remove(f.msg_id);
      else if (m && !m.mine && (await this.#senderDeleted(m.from))) await this.#remove(f.msg_id);
    }
    this.#seq(f.seq);
  }

  /** Whether `id`'s account is deleted, asking the directory again if it was not known to be. */
  async #senderDeleted(id) {
    if (this.deleted(id)) return true;
    await this.refreshUsers().catch(() => {});
    return this.deleted(id);
  }

  async #remove(msgId) {
    const m = this.#find(msgId);
    if (m) {
      this.conv(m.peer).messages.delete(msgId);
      this.#changed(m.peer);
    }
    await this.chat.markRemoved(msgId);
  }

  #onRead(f) {
    const state = this.chat.state;
    if (f.group) {
      // A member's read position in a group ("who read it"); mine from my other sessions.
      if (f.by === this.me) state.readUpTo[f.group] = Math.max(state.readUpTo[f.group] || 0, f.up_to);
      else this.groups.setRead(f.group, f.by, f.up_to);
      for (const m of this.conv(f.group).messages.values()) if (m.mine) m.status = this.#statusOf(m);
      this.chat.persist();
      this.#seq(f.seq);
      this.#changed(f.group);
      return;
    }
    if (f.by === this.me) {
      state.readUpTo[f.peer] = Math.max(state.readUpTo[f.peer] || 0, f.up_to);
    } else {
      state.peerRead[f.peer] = Math.max(state.peerRead[f.peer] || 0, f.up_to);
      for (const m of this.conv(f.peer).messages.values()) if (m.mine) m.status = this.#statusOf(m);
    }
    this.chat.persist();
    this.#seq(f.seq);
    this.#changed(f.peer);
  }

  #onError(f) {
    const item = f.ref && this.outbox.find((o) => o.msgId === f.ref);
    if (item && f.code === 'unavailable') {
      // Nothing was stored (the server's disk is full, or it is restarting): the message
      // stays queued, first in line, and goes again in a moment with the same id.
      item.sent = false;
      item.sentOn = null;
      this.#pumpLater();
    } else if (item && f.code === 'group_changed' && (item.resealed || 0) < 3) {
      // The membership changed since I verified it: fetch the chain, verify it, seal again
      // (to the new members only) and send it once more.
      item.resealed = (item.resealed || 0) + 1;
      item.envelope = null;
      item.sent = false;
      item.sentOn = null;
      item.waiting = true;
      this.groups.sync(item.message.peer).catch(() => {}).then(() => {
        item.waiting = false;
        this.#pump();
      });
    } else if (item) {
      // Refused as no member: my removal has not reached this browser yet; fetch the chain.
      if (f.code === 'not_a_member' && this.groups.has(item.message.peer)) this.groups.sync(item.message.peer).catch(() => {});
      this.outbox.splice(this.outbox.indexOf(item), 1);
      const m = this.#find(f.ref);
      if (m) {
        m.error = f.message;
        m.status = 'failed';
        this.#changed(m.peer);
      }
    } else if (f.ref || f.code === 'not_found' || f.code === 'forbidden') {
      this.dispatchEvent(new CustomEvent('notice', { detail: f.message }));
    }
  }

  #expire() {
    const now = Date.now();
    for (const conv of this.convs.values()) {
      for (const m of conv.messages.values()) {
        if (m.expiresAt && m.expiresAt <= now) this.#remove(m.id);
      }
    }
  }

  // ---- sending ---------------------------------------------------------------------------

  #local(peer, fields) {
    localCounter += 1;
    const key = `local:${localCounter}`;
    const m = {
      key, id: key, peer, mine: true, from: this.me, ts: Date.now(), order: 1e15 + localCounter, seq: 0,
      sentAt: Date.now(), hidden: false, revealed: false, expiresAt: null, progress: null, error: null, status: 'sending', file: null, ...fields,
    };
    this.conv(peer).messages.set(key, m);
    this.#changed(peer);
    return m;
  }

  /** Queues a text message; it goes out now, or as soon as the connection is back. */
  sendText(peer, body, { hidden = false, expiresInMs = null } = {}) {
    const m = this.#local(peer, { type: 'text', body, hidden, expiresInMs });
    this.outbox.push({ message: m, content: { type: 'text', body }, hidden, expiresInMs, envelope: null, msgId: null });
    this.#pump();
    return m;
  }

  /** Names a group and gives it a colour ({ name, color }): a meta message to its members. */
  setGroupMeta(id, meta) {
    const m = this.#local(id, { type: 'meta', body: `You named the group “${meta.name}”`, meta });
    this.outbox.push({ message: m, content: { type: 'text', body: '', group: meta }, hidden: false, expiresInMs: null, envelope: null, msgId: null });
    this.groups.setMeta(id, meta, Date.now(), this.me);
    this.#pump();
    return m;
  }

  /** Makes a group with me and `users`, named when `meta` is given; returns its id. */
  async createGroup(users, meta = null) {
    const id = await this.groups.create(users);
    this.conv(id).loaded = true;
    this.conv(id).hasMore = false;
    if (meta) this.setGroupMeta(id, meta);
    this.dispatchEvent(new Event('contacts'));
    return id;
  }

  /** Encrypts and uploads a file, then queues its message. */
  async sendFile(peer, file, { caption = '', expiresInMs = null } = {}) {
    if (file.size > MAX_FILE_BYTES) throw new Error(`${file.name} is larger than 100 MiB.`);
    const m = this.#local(peer, { type: 'file', body: caption, expiresInMs, file: { name: file.name, size: file.size, mime: file.type || 'application/octet-stream' } });
    const progress = (stage) => (done, total) => {
      m.progress = { stage, done, total };
      this.#changed(peer);
    };
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const { ciphertext, descriptor } = await encryptFile(bytes, file.type || 'application/octet-stream', file.name, { onProgress: progress('Encrypting') });
      progress('Uploading')(0, ciphertext.length);
      const uploaded = await this.api.upload(peer, ciphertext, progress('Uploading'), { group: this.groups.has(peer) });
      descriptor.fileId = b64.decode(uploaded.file_id, 16);
      m.file = descriptor;
      m.progress = null;
      this.#changed(peer);
      this.outbox.push({ message: m, content: { type: 'file', body: caption, file: descriptor }, hidden: false, expiresInMs, envelope: null, msgId: null });
      this.#pump();
    } catch (e) {
      m.progress = null;
      m.error = e.message || 'The file could not be sent.';
      m.status = 'failed';
      this.#changed(peer);
      if (e instanceof SessionEnded) throw e;
    }
    return m;
  }

  /** Retries a failed message. */
  retry(m) {
    if (m.status !== 'failed' || (m.type === 'file' && !m.file?.fileId)) return;
    m.error = null;
    m.status = 'sending';
    const content = m.type === 'file' ? { type: 'file', body: m.body, file: m.file } : m.type === 'meta' ? { type: 'text', body: '', group: m.meta } : { type: 'text', body: m.body };
    this.outbox.push({ message: m, content, hidden: m.hidden, expiresInMs: m.expiresInMs ?? null, envelope: null, msgId: null });
    this.#changed(m.peer);
    this.#pump();
  }

  /**
   * Seals and sends what is queued, in order, while the socket is up. Acks remove items
   * from the outbox while a seal is awaited, so each round takes the first item not yet
   * sent on this socket afresh instead of walking the array (a walk would skip the item
   * that moved into the removed one's place and send it later, out of order). A call while
   * a round runs makes it look again before it ends.
   */
  /** Tries the outbox again in a few seconds (once, however often it is asked). */
  #pumpLater() {
    if (this.pumpTimer) return;
    this.pumpTimer = setTimeout(() => {
      this.pumpTimer = null;
      this.#pump();
    }, UNAVAILABLE_RETRY_MS);
  }

  async #pump() {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      for (;;) {
        this.pumpAgain = false;
        await this.#sendQueued();
        if (!this.pumpAgain) break;
      }
    } finally {
      this.pumping = false;
    }
  }

  async #sendQueued() {
    for (;;) {
      if (!this.socket.online) return;
      const ws = this.socket.ws;
      const item = this.outbox.find((o) => !(o.sent && o.sentOn === ws));
      // (One waiting for its group's chain holds back what was typed after it.)
      if (!item || item.waiting) return;
      if (!item.envelope) {
        try {
          const sealed = await this.#seal(item.message.peer, item.content, { hidden: item.hidden, expiresInMs: item.expiresInMs });
          item.envelope = sealed.envelope;
          item.msgId = sealed.msgId;
          item.message.sentAt = sealed.sentAt;
          const conv = this.conv(item.message.peer);
          conv.messages.delete(item.message.id);
          item.message.id = sealed.msgId;
          conv.messages.set(sealed.msgId, item.message);
        } catch (e) {
          if (e instanceof TypeError) return;
          const at = this.outbox.indexOf(item);
          if (at >= 0) this.outbox.splice(at, 1);
          item.message.error = e.code === 'IdentityKeyChanged' ? `Not sent: ${this.groups.has(item.message.peer) ? 'a member' : 'this contact'}'s security key changed.` : e.message;
          item.message.status = 'failed';
          this.#changed(item.message.peer);
          // No keys for a contact: the account may have been deleted meanwhile.
          if (e.status === 404) this.refreshUsers().catch(() => {});
          if (e instanceof SessionEnded) throw e;
          continue;
        }
        // The socket may have changed while sealing: look again from the start.
        if (this.socket.ws !== ws) continue;
      }
      if (!this.outbox.includes(item)) continue;
      if (!this.socket.send({ type: 'send', envelope: item.envelope })) return;
      item.sent = true;
      item.sentOn = ws;
    }
  }

  /** Seals content for a conversation: a contact, or a group's verified members. */
  async #seal(peer, content, options) {
    if (!this.groups.has(peer)) return this.chat.seal(peer, content, options);
    const recipients = await this.groups.recipients(peer, (id) => this.deleted(id));
    return this.chat.sealTo(peer, recipients, content, options);
  }

  /** Whether I may delete `m` for everyone: my own message, or any in a group I am an admin of. */
  canDeleteForEveryone(m) {
    if (!m.id || m.id.startsWith('local:') || m.type === 'error') return false;
    if (this.groups.has(m.peer)) return this.groups.isMember(m.peer) && (m.mine || this.groups.amAdmin(m.peer));
    return m.mine;
  }

  /** Deletes a message for everyone (needs the connection): mine, or as a group's admin anyone's. */
  async deleteMessage(m) {
    if (!this.canDeleteForEveryone(m)) return;
    if (!this.socket.online) throw new Error('You are offline: the message can be deleted once the connection is back.');
    const ref = b64.decode(m.id, 16);
    const sealed = await this.#seal(m.peer, { type: 'delete', target: ref });
    if (!this.socket.send({ type: 'delete', envelope: sealed.envelope })) throw new Error('The connection dropped; try again.');
  }

  /** The self-destruct timer of a conversation (ms or null). */
  timer(peer) {
    return this.prefs.timer(peer);
  }

  /** Sets a conversation's self-destruct timer (null: off); a local notice says so. */
  setTimer(peer, ms) {
    if (this.prefs.setTimer(peer, ms)) this.#changed(peer);
  }

  /** Local notices of a conversation: [{ id, ts, text }]. */
  notices(peer) {
    return this.prefs.notices(peer);
  }

  /**
   * Removes a message from this browser only ("Delete for me"): the server has no per-user
   * hide, so the message is recorded as removed in this browser's accepted-message store
   * and is never shown here again (history and replay skip it); the peer keeps it.
   */
  async deleteForMe(m) {
    if (!m.id || m.id.startsWith('local:')) return;
    await this.#remove(m.id);
  }

  /**
   * Tells the server (and so the peer) that I read the conversation up to `upTo` (a server
   * time; by default its newest message).
   */
  markRead(peer, upTo = Infinity) {
    const newest = this.messages(peer).filter((m) => !m.mine && m.ts && m.ts <= upTo).reduce((t, m) => Math.max(t, m.ts), 0);
    const state = this.chat.state;
    if (!newest || newest <= (state.readUpTo[peer] || 0)) return;
    const frame = this.groups.has(peer) ? { type: 'read', group: peer, up_to: newest } : { type: 'read', peer, up_to: newest };
    if (this.groups.has(peer) && !this.groups.isMember(peer)) return;
    if (!this.socket.send(frame)) {
      // Between connections: try again shortly rather than lose the receipt.
      clearTimeout(this.readRetry?.[peer]);
      this.readRetry ??= {};
      this.readRetry[peer] = setTimeout(() => this.markRead(peer, upTo), 1000);
      return;
    }
    state.readUpTo[peer] = newest;
    this.chat.persist();
    this.dispatchEvent(new Event('contacts'));
  }

  /** Downloads and decrypts a file message without showing progress (for thumbnails). */
  async fileBytes(m) {
    const ct = await this.api.download(b64.encode(m.file.fileId), () => {});
    return decryptFile(m.file, ct);
  }

  /** Downloads and decrypts a file message: { bytes, name, mime }. */
  async downloadFile(m) {
    const progress = (stage) => (done, total) => {
      m.progress = { stage, done, total };
      this.#changed(m.peer);
    };
    try {
      const ct = await this.api.download(b64.encode(m.file.fileId), progress('Downloading'));
      const bytes = await decryptFile(m.file, ct, { onProgress: progress('Decrypting') });
      return { bytes, name: m.file.name, mime: m.file.mime };
    } catch (e) {
      if (e instanceof CryptoError) throw new Error('The file failed its integrity check and was not saved.');
      throw e;
    } finally {
      m.progress = null;
      this.#changed(m.peer);
    }
  }
}
