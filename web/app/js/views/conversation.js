// The conversation pane: header with presence and safety number, key-change warning,
// messages with day separators and scroll-back, and the composer (Enter sends, Shift+Enter
// adds a line; hidden toggle, self-destruct timer, attachments and drag-and-drop). With a
// deleted account the conversation says so and the composer is disabled.

import { h, hueOf, icon, initials, replace, saveFile } from '../ui/dom.js';
import { confirmDialog, toast } from '../ui/dialog.js';
import { dayKey, dayLabel } from '../format.js';
import { renderMessage, tickCountdowns, versionOf } from './message.js';
import { openSafetyDialog } from './safety.js';

const TIMERS = [
  ['', 'Off'],
  ['5000', '5 seconds'],
  ['30000', '30 seconds'],
  ['60000', '1 minute'],
  ['300000', '5 minutes'],
  ['3600000', '1 hour'],
  ['86400000', '1 day'],
  ['604800000', '1 week'],
];

export class ConversationView {
  constructor(ctx, peer, { onBack }) {
    this.ctx = ctx;
    this.peer = peer;
    this.elements = new Map();
    this.hidden = false;
    this.atBottom = true;
    this.build(onBack);
    this.onChange = (e) => e.detail.peer === peer && this.update();
    this.onContacts = () => this.updateHead();
    ctx.convs.addEventListener('change', this.onChange);
    ctx.convs.addEventListener('contacts', this.onContacts);
    this.ticker = setInterval(() => tickCountdowns(this.list), 1000);
    this.onFocus = () => this.markRead();
    window.addEventListener('focus', this.onFocus);
    document.addEventListener('visibilitychange', this.onFocus);
    this.update();
    if (!ctx.convs.deleted(peer)) this.checkKeys();
    if (!ctx.convs.conv(peer).loaded) ctx.convs.loadOlder(peer, true).catch(() => {});
  }

  destroy() {
    clearInterval(this.ticker);
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
    this.head = h('header', { class: 'conv-head' },
      h('button', { type: 'button', class: 'icon-button back', 'aria-label': 'Back to contacts', onclick: onBack }, icon('back')),
      h('span', { class: `avatar ${hueOf(this.peer)}`, 'aria-hidden': 'true', text: initials(name) }),
      h('div', { class: 'conv-title' }, h('h2', { text: name }), this.presence),
      this.safetyButton = h('button', { type: 'button', class: 'button small secondary safety-button', onclick: () => this.openSafety() }, icon('shield'), h('span', { class: 'label', text: 'Safety number' })));
    this.banner = h('div', { class: 'banner warn keychange', role: 'alert', hidden: true });
    this.gone = h('div', { class: 'banner deleted', role: 'status', hidden: true }, icon('warning'),
      h('p', {}, h('strong', { text: 'This account was deleted. ' }), `The messages ${name} sent were removed with it; you can no longer write to ${name}.`));
    this.older = h('button', { type: 'button', class: 'button small secondary load-older', onclick: () => this.loadOlder() }, 'Load earlier messages');
    this.list = h('div', { class: 'messages', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': `Messages with ${name}`, tabIndex: 0 });
    this.scroller = h('div', { class: 'scroller' }, this.older, this.list);
    this.scroller.addEventListener('scroll', () => {
      this.atBottom = this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 40;
      if (this.scroller.scrollTop < 60) this.loadOlder();
      if (this.atBottom) this.markRead();
    });
    const overlay = h('div', { class: 'drop-overlay', hidden: true }, icon('attach'), h('p', { text: `Drop files to send them encrypted to ${name}` }));
    this.el = h('section', { class: 'conv', 'aria-label': `Conversation with ${name}` }, this.head, this.gone, this.banner, this.scroller, this.buildComposer(), overlay);
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
    this.timer = h('select', { class: 'timer-select', 'aria-label': 'Self-destruct timer', title: 'Self-destruct timer' }, TIMERS.map(([v, label]) => h('option', { value: v, text: v ? label : 'No timer' })));
    this.timer.addEventListener('change', () => this.timer.classList.toggle('active', !!this.timer.value));
    this.fileInput = h('input', { type: 'file', multiple: true, class: 'visually-hidden', tabIndex: -1, 'aria-hidden': 'true' });
    this.fileInput.addEventListener('change', () => {
      this.sendFiles([...this.fileInput.files]);
      this.fileInput.value = '';
    });
    const attach = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Attach files', title: 'Attach files (or drop them here)', onclick: () => this.fileInput.click() }, icon('attach'));
    this.sendButton = h('button', { type: 'submit', class: 'icon-button send', 'aria-label': 'Send', title: 'Send (Enter)' }, icon('send'));
    this.composer = h('form', { class: 'composer', 'aria-label': 'Write a message' },
      h('div', { class: 'composer-tools' }, attach, this.hiddenToggle, h('span', { class: 'timer-wrap' }, icon('timer'), this.timer), this.fileInput),
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
    const expiresInMs = this.timer.value ? Number(this.timer.value) : null;
    this.ctx.convs.sendText(this.peer, text, { hidden: this.hidden, expiresInMs });
    this.input.value = '';
    this.resize();
    if (this.hidden) this.toggleHidden();
    this.atBottom = true;
    this.scrollToBottom();
  }

  sendFiles(files) {
    if (this.blocked) return toast(this.blocked, { error: true });
    for (const file of files) {
      this.ctx.convs.sendFile(this.peer, file).catch((e) => toast(e.message, { error: true }));
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
    const user = this.ctx.convs.users.get(this.peer);
    const deleted = this.ctx.convs.deleted(this.peer);
    this.presence.textContent = deleted ? 'account deleted' : user?.online ? 'online' : 'offline';
    this.presence.classList.toggle('online', !!user?.online && !deleted);
    this.updateBanner();
  }

  /** Disables (or enables again) everything that writes to this contact. */
  setComposerDisabled(disabled) {
    for (const el of this.composer.querySelectorAll('textarea, button, select')) el.disabled = disabled;
    this.composer.classList.toggle('disabled', disabled);
    this.input.placeholder = disabled ? 'This account was deleted' : this.hidden ? `Hidden message to ${this.name}` : `Message ${this.name}`;
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
      onDelete: async (m) => {
        const ok = await confirmDialog('Delete this message?', `It will be deleted for you and for ${this.name}.`, { confirm: 'Delete for everyone', danger: true });
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
    };
  }

  scrollToBottom() {
    requestAnimationFrame(() => {
      this.scroller.scrollTop = this.scroller.scrollHeight;
    });
  }

  /** Brings the list in line with the model, rebuilding only messages that changed. */
  update() {
    const convs = this.ctx.convs;
    const conv = convs.conv(this.peer);
    const messages = convs.messages(this.peer);
    const handlers = this.handlers();
    const wanted = [];
    let lastDay = null;
    for (const m of messages) {
      const day = dayKey(m.ts);
      if (day !== lastDay) {
        lastDay = day;
        const key = `day:${day}`;
        let sep = this.elements.get(key);
        if (!sep) {
          sep = { el: h('div', { class: 'day', role: 'separator' }, h('span', { text: dayLabel(m.ts) })), version: '' };
          this.elements.set(key, sep);
        }
        wanted.push([key, sep.el]);
      }
      const version = versionOf(m);
      let entry = this.elements.get(m.key);
      if (!entry || entry.version !== version) {
        const el = renderMessage(m, handlers);
        if (entry) {
          const role = entry.el.contains(document.activeElement) ? document.activeElement.dataset.role : null;
          entry.el.replaceWith(el);
          if (role) el.querySelector(`[data-role="${role}"]`)?.focus();
        }
        entry = { el, version };
        this.elements.set(m.key, entry);
      }
      wanted.push([m.key, entry.el]);
    }
    const keep = new Set(wanted.map(([k]) => k));
    for (const [key, entry] of this.elements) {
      if (!keep.has(key)) {
        entry.el.remove();
        this.elements.delete(key);
      }
    }
    let cursor = this.list.firstChild;
    for (const [, el] of wanted) {
      if (el === cursor) cursor = cursor.nextSibling;
      else this.list.insertBefore(el, cursor);
    }
    if (!messages.length) {
      const text = !conv.loaded ? 'Loading messages…'
        : convs.deleted(this.peer) ? 'No messages are left in this conversation.'
          : `No messages yet. Say hello to ${this.name}: only the two of you can read what you write here.`;
      this.empty ??= h('p', { class: 'empty-conv muted' });
      this.empty.textContent = text;
      if (!this.empty.isConnected) this.list.append(this.empty);
    } else {
      this.empty?.remove();
    }
    this.older.hidden = !conv.hasMore || !conv.loaded;
    this.updateHead();
    if (this.atBottom) this.scrollToBottom();
    this.markRead();
  }

  markRead() {
    if (document.visibilityState !== 'visible' || !this.atBottom || !this.el.isConnected) return;
    this.ctx.convs.markRead(this.peer);
  }
}
