// The main screen: top bar (connection state, avatar menu), banners (offline, backup
// reminder, no keys), the contact list and the open conversation. On narrow screens one
// pane shows at a time.

import { h, hueOf, icon, initials, replace } from '../ui/dom.js';
import { openDialog, toast } from '../ui/dialog.js';
import { ContactList } from './contacts.js';
import { ConversationView } from './conversation.js';
import { openKeysDialog, openLogoutDialog, openPasswordDialog } from './account.js';
import { exportForm } from './keyfile-forms.js';
import { openGroupCreateDialog } from './group-create.js';

export class Shell {
  /** ctx = { api, me: { id, username }, keys, chat, convs, socket, users, actions } */
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.view = null;
    this.build();
    this.onHash = () => this.route();
    window.addEventListener('hashchange', this.onHash);
    if (ctx.convs) {
      ctx.convs.addEventListener('contacts', () => {
        // A group named in the address that became known since (its chain arrived).
        const named = /^#\/c\/([0-9a-f-]{36})$/.exec(location.hash)?.[1];
        if (!this.view && named && ctx.convs.isGroup(named)) this.route();
        this.contacts.render();
        this.updateTitle();
      });
      ctx.convs.addEventListener('status', () => this.updateStatus());
      ctx.convs.addEventListener('notice', (e) => toast(e.detail, { error: true }));
      ctx.convs.addEventListener('incoming', (e) => this.notify(e.detail));
    }
    this.statusTimer = setInterval(() => this.updateStatus(), 1000);
    this.updateStatus();
    this.route();
  }

  destroy() {
    window.removeEventListener('hashchange', this.onHash);
    clearInterval(this.statusTimer);
    this.view?.destroy();
  }

  build() {
    const { me } = this.ctx;
    this.status = h('span', { class: 'conn', role: 'status' });
    this.menuButton = h('button', { type: 'button', class: `avatar-button avatar ${hueOf(me.id)}`, 'aria-haspopup': 'true', 'aria-expanded': 'false', 'aria-label': `Account menu for ${me.username}`, onclick: () => this.toggleMenu() }, initials(me.username));
    const item = (label, iconName, fn) => h('button', { type: 'button', class: 'menu-item', onclick: () => { this.toggleMenu(false); fn(); } }, icon(iconName), label);
    this.menu = h('div', { class: 'menu', hidden: true },
      h('div', { class: 'menu-head' }, h('strong', { text: me.username }), h('span', { class: 'small muted', text: 'Logged in' })),
      item('Manage keys', 'key', () => this.ctx.actions.manageKeys()),
      item('Change password', 'lock', () => openPasswordDialog(this.ctx.api, [me.username])),
      item('Log out', 'back', () => this.logout()),
      item('Delete account', 'trash', () => this.ctx.actions.deleteAccount()));
    this.menu.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        this.toggleMenu(false);
        this.menuButton.focus();
      }
    });
    document.addEventListener('click', (e) => {
      if (!this.menu.hidden && !this.menu.contains(e.target) && e.target !== this.menuButton) this.toggleMenu(false);
    });
    const top = h('header', { class: 'topbar' },
      h('div', { class: 'brand' }, icon('lock', 'brand-icon'), h('span', { text: 'securechat' })),
      this.status,
      h('div', { class: 'menu-wrap' }, this.menuButton, this.menu));
    this.offline = h('div', { class: 'banner offline', role: 'status', hidden: true });
    this.backup = h('div', { class: 'banner warn', hidden: true });
    this.nokeys = h('div', { class: 'banner warn', role: 'alert', hidden: !!this.ctx.keys },
      icon('key'),
      h('p', { text: 'This browser has no keys for your account: you cannot read or send messages here. ' }),
      h('button', { type: 'button', class: 'button small primary', onclick: () => this.ctx.actions.importKeys() }, 'Import key file'));
    this.contacts = new ContactList(this.ctx, {
      onOpen: (peer) => (location.hash = `#/c/${peer}`),
      onNewGroup: () => openGroupCreateDialog(this.ctx).then((id) => id && (location.hash = `#/c/${id}`)),
    });
    this.pane = h('main', { class: 'pane', id: 'main' });
    this.el = h('div', { class: 'shell' }, top, this.offline, this.backup, this.nokeys,
      h('div', { class: 'panes' }, this.contacts.el, this.pane));
    replace(this.root, this.el);
    this.updateBackup();
  }

  toggleMenu(open = this.menu.hidden) {
    this.menu.hidden = !open;
    this.menuButton.setAttribute('aria-expanded', String(open));
    if (open) this.menu.querySelector('.menu-item')?.focus();
  }

  async logout() {
    const choice = await openLogoutDialog();
    if (choice) this.ctx.actions.logout(choice);
  }

  updateBackup() {
    const keys = this.ctx.keys;
    this.backup.hidden = !keys?.needsBackup;
    if (this.backup.hidden) return;
    replace(this.backup, icon('warning'),
      h('p', { text: 'Your newest keys are not in a saved key file yet. Without it you lose your messages if this browser’s data is cleared.' }),
      h('button', { type: 'button', class: 'button small primary', onclick: () => this.saveKeyFile() }, 'Save key file'));
  }

  saveKeyFile() {
    openDialog('Save your key file', (close) => exportForm(this.ctx.keys, this.ctx.me.username, () => {
      this.updateBackup();
      setTimeout(() => close(), 1200);
    }));
  }

  updateStatus() {
    const socket = this.ctx.socket;
    if (!socket) {
      this.status.textContent = 'No keys';
      this.status.className = 'conn off';
      return;
    }
    const online = socket.online;
    this.status.className = `conn ${online ? 'on' : 'off'}`;
    this.status.textContent = online ? 'Connected' : 'Offline';
    this.offline.hidden = online;
    if (!online) {
      const left = Math.max(0, Math.ceil((socket.retryAt - Date.now()) / 1000));
      const queued = this.ctx.convs?.outbox.length || 0;
      replace(this.offline, icon('warning'),
        h('p', {}, h('strong', { text: 'You are offline. ' }),
          left ? `Reconnecting in ${left} s.` : 'Connecting…',
          queued ? ` ${queued} message${queued > 1 ? 's' : ''} will be sent when the connection is back.` : ''),
        h('button', { type: 'button', class: 'button small secondary', onclick: () => socket.reconnectNow() }, 'Retry now'));
    }
  }

  notify(m) {
    if (this.view?.peer === m.peer) return;
    const convs = this.ctx.convs;
    toast(convs.isGroup(m.peer) ? `New message from ${convs.username(m.from)} in ${convs.username(m.peer)}` : `New message from ${convs.username(m.peer)}`);
  }

  updateTitle() {
    const base = this.view ? `${this.ctx.convs.username(this.view.peer)} · securechat` : 'securechat';
    const unread = this.totalUnread();
    document.title = unread ? `(${unread}) ${base}` : base;
  }

  totalUnread() {
    return this.ctx.convs ? this.ctx.convs.contacts().reduce((n, c) => n + c.unread, 0) : 0;
  }

  route() {
    const match = /^#\/c\/([0-9a-f-]{36})$/.exec(location.hash);
    const known = (id) => (this.ctx.convs ? (this.ctx.convs.users.has(id) || this.ctx.convs.isGroup(id)) && id !== this.ctx.me.id : (this.ctx.users || []).some((u) => u.id === id));
    const peer = match && known(match[1]) ? match[1] : null;
    if (this.view?.peer === peer && peer) return;
    this.view?.destroy();
    this.view = null;
    this.contacts.setActive(peer);
    this.el.classList.toggle('show-conversation', !!peer);
    if (!peer) {
      replace(this.pane, h('div', { class: 'placeholder' },
        icon('lock', 'placeholder-icon'),
        h('h2', { text: 'Choose a contact' }),
        h('p', { class: 'muted', text: 'Messages and files are encrypted in your browser. Only you and the person you write to can read them.' })));
      this.updateTitle();
      return;
    }
    if (!this.ctx.convs) {
      replace(this.pane, h('div', { class: 'placeholder' },
        icon('key', 'placeholder-icon'),
        h('h2', { text: 'Your keys are not in this browser' }),
        h('p', { class: 'muted', text: 'Messages are end-to-end encrypted. Import your key file to read and send them.' }),
        h('button', { type: 'button', class: 'button primary', onclick: () => this.ctx.actions.importKeys() }, 'Import key file')));
      return;
    }
    this.view = new ConversationView(this.ctx, peer, { onBack: () => (location.hash = '') });
    replace(this.pane, this.view.el);
    this.view.readVisible();
    this.updateTitle();
    if (window.matchMedia('(min-width: 720px)').matches) this.view.input.focus();
  }
}
