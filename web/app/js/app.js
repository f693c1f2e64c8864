// The application: which screen shows, the session (login, silent refresh, end of session
// back to the login screen with a message), the keys of this browser, and the live chat.
// Invitation and reset links (#invite=, #reset=) open their screens before any session.

import { Api, SessionEnded } from './api.js';
import { Socket } from './socket.js';
import { KeyRing } from './keyring.js';
import { Chat } from './chat.js';
import { Conversations } from './conversations.js';
import * as store from './store.js';
import * as b64 from './crypto/b64.js';
import { equal } from './crypto/bytes.js';
import { importKeyFile } from './crypto/keyfile.js';
import { h, replace } from './ui/dom.js';
import { toast } from './ui/dialog.js';
import { renderLogin, renderRegister } from './views/auth.js';
import { RESET_DONE, renderForgot, renderReset } from './views/recovery.js';
import { openDeleteAccountDialog } from './views/delete-account.js';
import { takeLink } from './links.js';
import { renderImportKeys, renderKeySetup } from './views/firstrun.js';
import { Shell } from './views/shell.js';
import { openKeysDialog } from './views/account.js';
import { openDialog } from './ui/dialog.js';
import { importForm } from './views/keyfile-forms.js';

export class App {
  constructor(root) {
    this.root = root;
    this.api = new Api();
    this.session = null;
    this.server = null;
    this.leaving = false;
  }

  async start() {
    this.api.addEventListener('ended', (e) => this.ended(e.detail));
    // A link pasted into a tab that already runs the app changes only the fragment.
    window.addEventListener('hashchange', () => {
      const pasted = takeLink();
      if (pasted) this.openLink(pasted);
    });
    const link = takeLink();
    await this.loadServerInfo();
    if (link) return this.openLink(link);
    if (!this.api.maybeSession) return this.showLogin();
    try {
      await this.api.refresh();
    } catch (e) {
      if (e instanceof SessionEnded) return this.showLogin(e.message);
      return this.showLogin('The server cannot be reached right now. Check your connection, then reload.');
    }
    await this.enter();
  }

  /**
   * What the server offers (registration mode, first account, reset by email). Without an
   * answer (an older server, a network error) the screens fall back to an open server without
   * email; the server still decides.
   */
  async loadServerInfo() {
    try {
      this.server = await this.api.serverInfo();
    } catch {
      this.server = null;
    }
    this.serverAt = Date.now();
  }

  /**
   * Reads the server's facts again in the background when they are more than a few seconds
   * old (the first account may have been made since). Screens never wait for it: they show at
   * once with what is known, and the server's own answer corrects a stale mode.
   */
  refreshServerInfo() {
    if (Date.now() - (this.serverAt || 0) > 5000) this.loadServerInfo();
  }

  // ---- screens -----------------------------------------------------------------------------

  /** An invitation or reset link's screen; a session open in this tab stays for a reload. */
  openLink(link) {
    this.teardown();
    if (link.kind === 'invite') return this.showRegister(link.code);
    return this.showReset(link.code);
  }

  showLogin(message, messageKind = 'info') {
    this.teardown();
    if (location.hash) history.replaceState(null, '', location.pathname);
    document.title = 'Log in · securechat';
    this.refreshServerInfo();
    renderLogin(this.root, {
      message,
      messageKind,
      onLogin: async (username, password) => {
        await this.api.login(username, password);
        await this.enter();
      },
      onShowRegister: () => this.showRegister(),
      onForgot: () => this.showForgot(),
    });
  }

  showRegister(invite = '') {
    document.title = 'Create account · securechat';
    renderRegister(this.root, {
      server: this.server,
      invite,
      onShowLogin: () => this.showLogin(),
      onRegister: async ({ username, email, password, invite: code }) => {
        const keys = await KeyRing.generate();
        const request = await keys.registration(username, email);
        if (code) request.invite = code;
        await this.api.register(request, password);
        await keys.save(username);
        await this.api.login(username, password);
        // Its email address is a login name too: never a password fallback for it either.
        this.api.rememberOpaque({ login: email, userId: request.user_id });
        document.title = 'Your keys · securechat';
        await renderKeySetup(this.root, { keys, username, password, onContinue: () => this.enter() });
      },
    });
  }

  showReset(code) {
    document.title = 'Choose a new password · securechat';
    renderReset(this.root, {
      code,
      onShowLogin: () => this.showLogin(),
      onReset: async (resetCode, password) => {
        await this.api.resetPassword(resetCode, password);
        // Every session of the account ended with the reset.
        this.api.clear();
        this.showLogin(RESET_DONE, 'success');
      },
    });
  }

  showForgot() {
    document.title = 'Forgot password · securechat';
    renderForgot(this.root, {
      emailAvailable: !!this.server?.password_reset_email,
      onShowLogin: () => this.showLogin(),
      onForgot: (login) => this.api.forgotPassword(login),
    });
  }

  async showImport(me) {
    document.title = 'Import your keys · securechat';
    renderImportKeys(this.root, {
      username: me.username,
      onImport: async (text, passphrase) => {
        await this.importKeys(text, passphrase, me);
        await this.enter();
      },
      onSkip: () => this.enter({ withoutKeys: true }),
      onLogout: () => this.logout({ forget: false }),
    });
  }

  // ---- session -----------------------------------------------------------------------------

  /** After login (or a restored session): keys, state, directory, socket, then the shell. */
  async enter({ withoutKeys = false } = {}) {
    this.teardown();
    replace(this.root, h('main', { class: 'boot' }, h('p', { text: 'Opening your conversations…' })));
    try {
      const users = await this.api.users();
      const meUser = users.find((u) => u.id === this.api.userId);
      const me = { id: this.api.userId, username: meUser?.username || 'me' };
      const keys = await KeyRing.load(me.id);
      if (!keys && !withoutKeys) return this.showImport(me);
      const session = { api: this.api, me, keys, users, actions: this.actions() };
      if (keys) {
        if (keys.record.username !== me.username) await keys.save(me.username);
        session.chat = await Chat.load(this.api, keys);
        session.socket = new Socket(this.api, () => session.chat.state.lastSeq);
        session.convs = new Conversations(this.api, session.chat, session.socket);
        session.convs.addEventListener('ended', (e) => this.ended(e.detail));
        session.socket.addEventListener('ended', (e) => this.ended(e.detail));
        await session.convs.init();
        session.socket.start();
      }
      this.session = session;
      session.shell = new Shell(this.root, session);
    } catch (e) {
      if (e instanceof SessionEnded) {
        this.api.clear();
        return this.showLogin(e.message);
      }
      replace(this.root, h('main', { class: 'auth' }, h('div', { class: 'auth-card', role: 'alert' },
        h('h1', { text: 'securechat could not start' }),
        h('p', { text: e.message || String(e) }),
        h('button', { type: 'button', class: 'button primary', onclick: () => this.enter() }, 'Try again'))));
    }
  }

  actions() {
    return {
      logout: (choice) => this.logout(choice),
      manageKeys: () => this.manageKeys(),
      importKeys: () => this.importDialog(),
      deleteAccount: () => openDeleteAccountDialog(this.session.me.username, (password) => this.deleteAccount(password)),
    };
  }

  /**
   * Deletes the account on the server, then this browser's keys and state of it, and goes to
   * the login screen. The server ends every session at once: the socket's "session revoked"
   * that follows is expected, not an end to report.
   */
  async deleteAccount(password) {
    const userId = this.api.userId;
    this.leaving = true;
    try {
      await this.api.deleteAccount(password);
    } catch (e) {
      this.leaving = false;
      throw e;
    }
    this.teardown();
    this.api.clear();
    let forgotten = true;
    try {
      if (userId) await store.forgetAccount(userId);
    } catch {
      forgotten = false;
    }
    this.leaving = false;
    this.showLogin(forgotten
      ? 'Your account was deleted. Its keys were removed from this browser.'
      : 'Your account was deleted. Its keys could not be removed from this browser: clear this site’s data in the browser settings.');
  }

  /** Reads a key file and stores its keys, after checking they are this account's. */
  async importKeys(text, passphrase, me) {
    const imported = await importKeyFile(text, passphrase);
    if (imported.userId !== me.id) throw new Error('This key file belongs to another account.');
    const published = await this.api.userKeys(me.id);
    if (!equal(b64.decode(published.identity_key, 32), imported.ikPublic)) {
      throw new Error('The identity key in this file is not the one of your account.');
    }
    const active = published.encryption_keys.find((k) => k.status === 'active');
    const keys = KeyRing.fromImport(imported);
    const existing = await KeyRing.load(me.id);
    if (existing) keys.record.wrapKey = existing.record.wrapKey;
    await keys.save(me.username);
    if (active && !imported.encKeys.some((k) => b64.encode(k.keyId) === active.key_id)) {
      toast('This key file is older than your newest key: messages sent to the newer key cannot be read here. Import a newer key file.', { error: true, ms: 10000 });
    }
    return keys;
  }

  importDialog() {
    const me = this.session.me;
    openDialog('Import key file', (close) => importForm(async (text, passphrase) => {
      await this.importKeys(text, passphrase, me);
      close();
      await this.enter();
    }));
  }

  async manageKeys() {
    const s = this.session;
    if (!s.keys) return this.importDialog();
    let reenter = false;
    await openKeysDialog({
      keys: s.keys,
      api: this.api,
      username: s.me.username,
      onImport: async (text, passphrase) => {
        s.keys = await this.importKeys(text, passphrase, s.me);
        reenter = true;
      },
      onRotated: () => s.shell.updateBackup(),
      onBackedUp: () => s.shell.updateBackup(),
    });
    if (reenter) await this.enter();
    else s.shell?.updateBackup();
  }

  async logout({ forget }) {
    const userId = this.api.userId;
    await this.session?.chat?.flush().catch(() => {});
    this.teardown();
    try {
      await this.api.logout();
    } catch {
      // the session is gone either way
    }
    if (forget && userId) await store.forgetAccount(userId);
    this.showLogin(forget ? 'You are logged out, and your keys were removed from this browser.' : 'You are logged out.');
  }

  ended(error) {
    if (!this.session || this.leaving) return;
    this.api.clear();
    this.showLogin(error?.message || 'Your session has ended. Please log in again.');
  }

  teardown() {
    const s = this.session;
    this.session = null;
    if (!s) return;
    s.socket?.stop();
    s.convs?.stop();
    s.chat?.flush().catch(() => {});
    // Nothing more is saved for this session (a late save would outlive "forget my keys").
    if (s.chat) s.chat.closed = true;
    s.shell?.destroy();
  }
}
