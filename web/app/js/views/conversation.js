// The conversation pane: header with presence and safety number, key-change warning,
// messages (grouped, with day dividers, a "New messages" divider and local notices; see
// timeline.js) with scroll-back and a "Jump to latest" button, and the composer (Enter
// sends, Shift+Enter adds a line; hidden toggle, the conversation's self-destruct timer,
// attachments and drag-and-drop). With a deleted account the conversation says so and the
// composer is disabled. Messages are marked read as they come into view. A group
// conversation names each sender, says who read my messages, opens the members panel from
// its header, and pauses when its membership cannot be trusted or I am no longer a member.

import { h, hueOf, icon, initials, replace, saveFile } from '../ui/dom.js';
import { confirmDialog, openDialog, toast } from '../ui/dialog.js';
import { renderMessage, tickCountdowns, versionOf } from './message.js';
import { openSafetyDialog } from './safety.js';
import { timeline } from './timeline.js';
import { Thumbnails } from './thumbnails.js';
import { TimerControl } from './timer-control.js';
import { groupAvatar } from './group-avatar.js';
import { openGroupMembersDialog } from './group-members.js';

/** How close to the end (px) counts as "at the latest message". */
const AT_BOTTOM_PX = 40;

export class ConversationView {
  constructor(ctx, peer, { onBack }) {
    this.ctx = ctx;
    this.peer = peer;
    this.isGroup = ctx.convs.isGroup(peer);
    this.elements = new Map();
    this.hidden = false;
    this.atBottom = true;
    // The "New messages" divider goes before the first message received after this server
    // time: set when the conversation opens with unread messages, or when messages arrive
    // while the reader is scrolled up; cleared when the reader sends.
    const unread = ctx.convs.unread(peer);
    this.newFrom = unread ? ctx.convs.readPosition(peer) : null;
    this.thumbs = new Thumbnails((m) => ctx.convs.fileBytes(m), () => this.update());
    this.build(onBack);
    this.onChange = (e) => e.detail.peer === peer && this.update();
    this.onContacts = () => this.updateHead();
    ctx.convs.addEventListener('change', this.onChange);
    ctx.convs.addEventListener('contacts', this.onContacts);
    this.ticker = setInterval(() => tickCountdowns(this.list), 1000);
    this.onFocus = () => this.readVisible();
    window.addEventListener('focus', this.onFocus);
    document.addEventListener('visibilitychange', this.onFocus);
    this.update();
    if (!ctx.convs.deleted(peer) && !this.isGroup) this.checkKeys();
    if (!ctx.convs.conv(peer).loaded) ctx.convs.loadOlder(peer, true).catch(() => {});
  }

  destroy() {
    clearInterval(this.ticker);
    this.thumbs.destroy();
    this.ctx.convs.removeEventListener('change', this.onChange);
    this.ctx.convs.removeEventListener('contacts', this.onContacts);
    window.removeEventListener('focus', this.onFocus);
    document.removeEventListener('visibilitychange', this.onFocus);
  }

  get name() {
    return this.ctx.convs.username(this.peer);
  }

  build(onBack) {
    const name = this.name;
    this.presence = h('span', { class: 'presence-text small' });
    this.title = h('h2', { text: name });
    this.avatar = this.isGroup ? groupAvatar(this.peer, name, this.ctx.convs.groups.meta(this.peer)?.color) : h('span', { class: `avatar ${hueOf(this.peer)}`, 'aria-hidden': 'true', text: initials(name) });
    this.safetyButton = this.isGroup
      ? h('button', { type: 'button', class: 'button small secondary safety-button', 'aria-label': 'Members', onclick: () => openGroupMembersDialog(this.ctx, this.peer) }, icon('group'), h('span', { class: 'label', text: 'Members' }))
      : h('button', { type: 'button', class: 'button small secondary safety-button', onclick: () => this.openSafety() }, icon('shield'), h('span', { class: 'label', text: 'Safety number' }));
    this.head = h('header', { class: 'conv-head' },
      h('button', { type: 'button', class: 'icon-button back', 'aria-label': 'Back to contacts', onclick: onBack }, icon('back')),
      this.avatar,
      h('div', { class: 'conv-title' }, this.title, this.presence),
      this.safetyButton);
    this.banner = h('div', { class: 'banner warn keychange', role: 'alert', hidden: true });
    this.gone = h('div', { class: 'banner deleted', role: 'status', hidden: true }, icon('warning'),
      h('p', {}, h('strong', { text: 'This account was deleted. ' }), `The messages ${name} sent were removed with it; you can no longer write to ${name}.`));
    this.older = h('button', { type: 'button', class: 'button small secondary load-older', onclick: () => this.loadOlder() }, 'Load earlier messages');
    this.list = h('div', { class: 'messages', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': `Messages with ${name}`, tabIndex: 0 });
    this.scroller = h('div', { class: 'scroller' }, this.older, this.list);
    // An image shown after the list was laid out (a decrypted thumbnail) makes it taller:
    // a reader at the latest message stays there.
    this.list.addEventListener('load', () => {
      if (this.atBottom) this.scrollToBottom();
    }, true);
    this.scroller.addEventListener('scroll', () => {
      this.atBottom = this.distanceToEnd() < AT_BOTTOM_PX;
      if (this.scroller.scrollTop < 60) this.loadOlder();
      this.readVisible();
      this.updateJump();
    });
    this.jumpCount = h('span', { class: 'jump-count' });
    this.jump = h('button', { type: 'button', class: 'button small jump-latest', 'aria-label': 'Jump to latest', title: 'Jump to the latest message', hidden: true, onclick: () => this.jumpToLatest() },
      icon('down'), this.jumpCount);
    const area = h('div', { class: 'scroll-area' }, this.scroller, this.jump);
    const overlay = h('div', { class: 'drop-overlay', hidden: true }, icon('attach'), h('p', { text: `Drop files to send them encrypted to ${name}` }));
    this.el = h('section', { class: 'conv', 'aria-label': `Conversation with ${name}` }, this.head, this.gone, this.banner, area, this.buildComposer(), overlay);
    this.attachDropZone(overlay);
  }

  buildComposer() {
    this.input = h('textarea', { class: 'composer-input', rows: 1, placeholder: `Message ${this.name}`, 'aria-label': `Message to ${this.name}`, maxLength: 16000, spellcheck: true });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      }
    });
    this.input.addEventListener('input', () => this.resize());
    this.hiddenToggle = h('button', { type: 'button', class: 'icon-button toggle', 'aria-pressed': 'false', 'aria-label': 'Send as hidden message', title: 'Hidden message: the recipient clicks to see it', onclick: () => this.toggleHidden() }, icon('eyeOff'));
    this.timer = new TimerControl(() => this.ctx.convs.timer(this.peer), (ms) => this.ctx.convs.setTimer(this.peer, ms));
    this.fileInput = h('input', { type: 'file', multiple: true, class: 'visually-hidden', tabIndex: -1, 'aria-hidden': 'true' });
    this.fileInput.addEventListener('change', () => {
      this.sendFiles([...this.fileInput.files]);
      this.fileInput.value = '';
    });
    const attach = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Attach files', title: 'Attach files (or drop them here)', onclick: () => this.fileInput.click() }, icon('attach'));
    this.sendButton = h('button', { type: 'submit', class: 'icon-button send', 'aria-label': 'Send', title: 'Send (Enter)' }, icon('send'));
    this.composer = h('form', { class: 'composer', 'aria-label': 'Write a message' },
      this.timer.note,
      h('div', { class: 'composer-tools' }, attach, this.hiddenToggle, this.timer.tool, this.fileInput),
      h('div', { class: 'composer-row' }, this.input, this.sendButton));
    this.composer.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    return this.composer;
  }

  attachDropZone(overlay) {
    let depth = 0;
    const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes('Files');
    this.el.addEventListener('dragenter', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth += 1;
      overlay.hidden = false;
    });
    this.el.addEventListener('dragover', (e) => hasFiles(e) && e.preventDefault());
    this.el.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (!depth) overlay.hidden = true;
    });
    this.el.addEventListener('drop', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      overlay.hidden = true;
      this.sendFiles([...e.dataTransfer.files]);
    });
  }

  resize() {
    this.input.rows = Math.min(6, Math.max(1, this.input.value.split('\n').length));
  }

  toggleHidden() {
    this.hidden = !this.hidden;
    this.hiddenToggle.setAttribute('aria-pressed', String(this.hidden));
    this.hiddenToggle.classList.toggle('active', this.hidden);
    this.input.placeholder = this.hidden ? `Hidden message to ${this.name}` : `Message ${this.name}`;
  }

  send() {
    const text = this.input.value;
    if (!text.trim()) return;
    if (this.blocked) return toast(this.blocked, { error: true });
    this.newFrom = null;
    this.ctx.convs.sendText(this.peer, text, { hidden: this.hidden, expiresInMs: this.timer.value() });
    this.input.value = '';
    this.resize();
    if (this.hidden) this.toggleHidden();
    this.atBottom = true;
    this.scrollToBottom();
  }

  sendFiles(files) {
    if (this.blocked) return toast(this.blocked, { error: true });
    this.newFrom = null;
    for (const file of files) {
      this.ctx.convs.sendFile(this.peer, file, { expiresInMs: this.timer.value() }).catch((e) => toast(e.message, { error: true }));
    }
    this.atBottom = true;
  }

  async loadOlder() {
    const conv = this.ctx.convs.conv(this.peer);
    if (conv.loading || !conv.hasMore) return;
    const before = this.scroller.scrollHeight;
    const top = this.scroller.scrollTop;
    await this.ctx.convs.loadOlder(this.peer).catch(() => toast('Could not load earlier messages.', { error: true }));
    this.scroller.scrollTop = this.scroller.scrollHeight - before + top;
  }

  async checkKeys() {
    try {
      await this.ctx.chat.contactKeys(this.peer);
    } catch {
      // shown by the banner
    }
    this.updateBanner();
  }

  updateHead() {
    if (this.isGroup) return this.updateGroupHead();
    const user = this.ctx.convs.users.get(this.peer);
    const deleted = this.ctx.convs.deleted(this.peer);
    this.presence.textContent = deleted ? 'account deleted' : user?.online ? 'online' : 'offline';
    this.presence.classList.toggle('online', !!user?.online && !deleted);
    this.updateBanner();
  }

  /** A group's header (its name, members, my role) and banners; the composer only while I am a member. */
  updateGroupHead() {
    const convs = this.ctx.convs;
    const groups = convs.groups;
    const entry = groups.get(this.peer);
    const name = this.name;
    const meta = groups.meta(this.peer);
    this.title.textContent = name;
    this.avatar.replaceWith(this.avatar = groupAvatar(this.peer, name, meta?.color));
    const count = groups.members(this.peer).length;
    this.presence.textContent = `${count} member${count === 1 ? '' : 's'}${groups.amAdmin(this.peer) ? ' · you are an admin' : ''}`;
    const member = groups.isMember(this.peer);
    this.blocked = null;
    let warning = null;
    if (entry?.refused) {
      const who = convs.username(entry.refused.user);
      this.blocked = `Sending to this group is paused: ${who}'s security key changed.`;
      warning = [h('strong', { text: `${who}'s security key in this group is not the one you have pinned.` }),
        h('p', { text: `Messages of this group are not shown or sent until it matches. Compare the safety number with ${who} in your conversation with them.` })];
    } else if (entry?.chainError) {
      warning = [h('strong', { text: 'A change to this group was refused.' }), h('p', { text: entry.chainError })];
    }
    if (!member) this.blocked = 'You are no longer a member of this group.';
    this.gone.hidden = member;
    if (!member) replace(this.gone, icon('warning'), h('p', {}, h('strong', { text: 'You are no longer a member of this group. ' }), 'Its messages so far stay here; you get no new ones.'));
    const disabled = !member || !!entry?.refused;
    if (disabled !== this.composer.classList.contains('disabled')) this.setComposerDisabled(disabled, this.blocked);
    this.banner.hidden = !warning;
    if (warning) replace(this.banner, icon('warning'), h('div', {}, warning));
  }

  /** Disables (or enables again) everything that writes to this contact. */
  setComposerDisabled(disabled, why = 'This account was deleted') {
    for (const el of this.composer.querySelectorAll('textarea, button, select')) el.disabled = disabled;
    this.composer.classList.toggle('disabled', disabled);
    this.input.placeholder = disabled ? why : this.hidden ? `Hidden message to ${this.name}` : `Message ${this.name}`;
  }

  updateBanner() {
    const pin = this.ctx.chat.pin(this.peer);
    const name = this.name;
    const deleted = this.ctx.convs.deleted(this.peer);
    this.blocked = null;
    this.gone.hidden = !deleted;
    this.safetyButton.disabled = deleted;
    if (deleted !== this.composer.classList.contains('disabled')) this.setComposerDisabled(deleted);
    if (deleted) {
      this.blocked = `${name}'s account was deleted.`;
      this.banner.hidden = true;
      this.composer.classList.remove('blocked');
      return;
    }
    if (!pin?.changedTo) {
      this.banner.hidden = true;
      this.composer.classList.remove('blocked');
      return;
    }
    this.blocked = `Sending to ${name} is paused until you accept their new security key.`;
    this.composer.classList.add('blocked');
    replace(this.banner,
      icon('warning'),
      h('div', {},
        h('strong', { text: `${name}'s security key has changed.` }),
        h('p', { text: pin.verified
          ? `You had verified ${name}. Compare the new safety number with ${name} in person or on a call before you continue: someone may be trying to intercept your messages.`
          : `This happens when someone reinstalls or uses a new account, but it can also mean that someone is trying to intercept your messages. Compare the new safety number with ${name} before you continue.` }),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'button small secondary', onclick: () => this.openSafety(true) }, 'Compare safety number'),
          h('button', { type: 'button', class: 'button small primary', onclick: () => this.acceptKey(pin.verified) }, pin.verified ? 'I verified the new number' : 'Accept the new key'))));
    this.banner.hidden = false;
  }

  async acceptKey(verified) {
    const ok = await confirmDialog('Accept the new key?', `Messages to ${this.name} will be encrypted to the new key from now on.`, { confirm: 'Accept' });
    if (!ok) return;
    this.ctx.chat.acceptNewKey(this.peer, verified);
    this.updateBanner();
    // A group paused for this contact's key may verify again now.
    this.ctx.convs.groups.recheckPins().catch(() => {});
    this.ctx.convs.reload(this.peer).catch(() => {});
    this.ctx.convs.dispatchEvent(new Event('contacts'));
  }

  openSafety(changed = false) {
    openSafetyDialog(this.ctx, this.peer, { changed }).then(() => this.updateBanner());
  }

  handlers() {
    return {
      onReveal: (m) => {
        m.revealed = !m.revealed;
        this.update();
      },
      onDeleteForMe: async (m) => {
        const ok = await confirmDialog('Delete this message for you?', `It is removed from this browser only. ${this.name} still has it${m.mine ? ', and you can no longer delete it for everyone' : ''}.`, { confirm: 'Delete for me', danger: true });
        if (!ok) return;
        try {
          await this.ctx.convs.deleteForMe(m);
        } catch (e) {
          toast(e.message, { error: true });
        }
      },
      onDelete: async (m) => {
        const everyone = this.isGroup ? `everyone in ${this.name}` : this.name;
        const ok = await confirmDialog('Delete this message?', `It will be deleted for you and for ${everyone}.`, { confirm: 'Delete for everyone', danger: true });
        if (!ok) return;
        try {
          await this.ctx.convs.deleteMessage(m);
        } catch (e) {
          toast(e.message, { error: true });
        }
      },
      onDownload: async (m) => {
        try {
          const file = await this.ctx.convs.downloadFile(m);
          saveFile(file.bytes, file.name, file.mime);
        } catch (e) {
          toast(e.message || 'The download failed.', { error: true });
        }
      },
      onRetry: (m) => this.ctx.convs.retry(m),
      canDeleteForEveryone: (m) => this.ctx.convs.canDeleteForEveryone(m),
      onWhoRead: this.isGroup ? (m) => this.whoRead(m) : null,
    };
  }

  /** "Who read it": the members who read one of my group messages, and who did not yet. */
  whoRead(m) {
    const convs = this.ctx.convs;
    const read = new Set(convs.groups.readBy(this.peer, m.ts));
    const others = convs.groups.members(this.peer).filter((x) => x.userId !== this.ctx.me.id);
    const row = (x) => h('li', {}, h('span', { class: `avatar small ${hueOf(x.userId)}`, 'aria-hidden': 'true', text: initials(convs.username(x.userId)) }), h('span', { text: convs.username(x.userId) }));
    const readers = others.filter((x) => read.has(x.userId));
    const waiting = others.filter((x) => !read.has(x.userId));
    openDialog('Read by', () => [
      readers.length ? h('ul', { class: 'readers', 'aria-label': 'Read by' }, readers.map(row)) : h('p', { class: 'muted', text: 'Nobody yet.' }),
      waiting.length ? h('h3', { text: 'Not read yet' }) : null,
      waiting.length ? h('ul', { class: 'readers', 'aria-label': 'Not read yet' }, waiting.map(row)) : null,
    ]);
  }

  scrollToBottom() {
    requestAnimationFrame(() => {
      this.scroller.scrollTop = this.scroller.scrollHeight;
    });
  }

  distanceToEnd() {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight;
  }

  jumpToLatest() {
    this.atBottom = true;
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.readVisible();
    this.updateJump();
    this.input.focus();
  }

  /** Messages from the other side that this reader has not read yet. */
  unreadMessages() {
    const since = this.ctx.convs.readPosition(this.peer);
    return this.ctx.convs.messages(this.peer).filter((m) => !m.mine && m.ts > since);
  }

  /** "Jump to latest" shows while scrolled up with unread messages below, or far up. */
  updateJump() {
    const unread = this.unreadMessages().length;
    const show = !this.atBottom && (unread > 0 || this.distanceToEnd() > this.scroller.clientHeight);
    this.jump.hidden = !show;
    this.jump.classList.toggle('has-new', unread > 0);
    this.jumpCount.textContent = unread ? `${unread} new message${unread === 1 ? '' : 's'}` : 'Latest';
  }

  /** The element of one item of the timeline, and what decides when it is rebuilt. */
  itemElement(item, handlers) {
    switch (item.kind) {
      case 'day':
        return [item.label, () => h('div', { class: 'day', role: 'separator' }, h('span', { text: item.label }))];
      case 'new':
        return ['', () => h('div', { class: 'new-divider', role: 'separator', 'aria-label': 'New messages' }, h('span', { text: 'New messages' }))];
      case 'notice':
        return [item.notice.text, () => h('p', { class: 'conv-notice', role: 'note' }, icon(item.notice.meta ? 'group' : 'timer', 'icon tiny'), h('span', { text: item.notice.text }))];
      default: {
        const m = item.m;
        const thumb = !m.hidden || m.revealed ? this.thumbs.get(m) : null;
        const sender = this.isGroup && !m.mine && item.first ? this.ctx.convs.username(m.from) : null;
        const readBy = this.isGroup && m.mine && item.last ? this.ctx.convs.readBy(m) : [];
        return [`${versionOf(m)}|${item.first}|${item.last}|${thumb || ''}|${sender}|${readBy.join(',')}`, () => renderMessage(m, handlers, { first: item.first, last: item.last, thumb, sender, readBy })];
      }
    }
  }

  /** Brings the list in line with the model, rebuilding only items that changed. */
  update() {
    const convs = this.ctx.convs;
    const conv = convs.conv(this.peer);
    const messages = convs.messages(this.peer);
    const hasUnread = messages.some((m) => !m.mine && m.ts > convs.readPosition(this.peer));
    if (this.newFrom === null && hasUnread && (!this.atBottom || document.visibilityState !== 'visible')) this.newFrom = convs.readPosition(this.peer);
    const handlers = this.handlers();
    const wanted = [];
    for (const item of timeline(messages, { notices: convs.notices(this.peer), newFrom: this.newFrom })) {
      const [version, make] = this.itemElement(item, handlers);
      let entry = this.elements.get(item.key);
      if (!entry || entry.version !== version) {
        const el = make();
        if (entry) {
          const role = entry.el.contains(document.activeElement) ? document.activeElement.dataset.role : null;
          entry.el.replaceWith(el);
          if (role) el.querySelector(`[data-role="${role}"]`)?.focus();
        }
        entry = { el, version };
        this.elements.set(item.key, entry);
      }
      wanted.push([item.key, entry.el]);
    }
    const keep = new Set(wanted.map(([k]) => k));
    for (const [key, entry] of this.elements) {
      if (!keep.has(key)) {
        entry.el.remove();
        this.elements.delete(key);
        this.thumbs.release(key);
      }
    }
    let cursor = this.list.firstChild;
    for (const [, el] of wanted) {
      if (el === cursor) cursor = cursor.nextSibling;
      else this.list.insertBefore(el, cursor);
    }
    if (!messages.length) {
      const text = !conv.loaded ? 'Loading messages…'
        : this.isGroup ? 'No messages yet. Only the members of this group can read what you write here.'
        : convs.deleted(this.peer) ? 'No messages are left in this conversation.'
          : `No messages yet. Say hello to ${this.name}: only the two of you can read what you write here.`;
      this.empty ??= h('p', { class: 'empty-conv muted' });
      this.empty.textContent = text;
      if (!this.empty.isConnected) this.list.prepend(this.empty);
    } else {
      this.empty?.remove();
    }
    this.timer.update();
    this.older.hidden = !conv.hasMore || !conv.loaded;
    this.updateHead();
    if (this.atBottom) this.scrollToBottom();
    this.readVisible();
    this.updateJump();
  }

  /**
   * Marks read what the reader has seen: everything when at the latest message, else the
   * messages scrolled into view (a message counts once its end is on screen).
   */
  readVisible() {
    if (document.visibilityState !== 'visible' || !this.el.isConnected) return;
    if (this.atBottom) {
      this.ctx.convs.markRead(this.peer);
      return;
    }
    const bottom = this.scroller.getBoundingClientRect().bottom;
    const unread = this.unreadMessages();
    for (let i = unread.length - 1; i >= 0; i--) {
      const el = this.elements.get(unread[i].key)?.el;
      if (el && el.getBoundingClientRect().bottom <= bottom + 1) {
        this.ctx.convs.markRead(this.peer, unread[i].ts);
        return;
      }
    }
  }
}
