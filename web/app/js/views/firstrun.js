// Screens around the keys: right after registration (show the key fingerprint, make the
// user save the key file before chatting) and on a browser without keys (import them).

import { h, icon, replace } from '../ui/dom.js';
import { exportForm, groupFingerprint, importForm } from './keyfile-forms.js';

function frame(title, ...content) {
  return h('main', { class: 'auth' },
    h('div', { class: 'auth-card wide' },
      h('div', { class: 'brand' }, icon('lock', 'brand-icon'), h('span', { text: 'securechat' })),
      h('h1', { text: title }),
      ...content));
}

/** After registration: the fingerprint, then the key file download, then "Start chatting". */
export async function renderKeySetup(root, { keys, username, password, onContinue }) {
  const fingerprint = groupFingerprint(await keys.fingerprint());
  const next = h('button', { type: 'button', class: 'button primary wide', disabled: true, onclick: onContinue }, 'Start chatting');
  const waiting = h('p', { class: 'muted', id: 'continue-hint', text: 'Save your key file to continue.' });
  next.setAttribute('aria-describedby', 'continue-hint');
  replace(root, frame('Your keys are ready',
    h('p', { text: `Welcome, ${username}. Your encryption keys were made in this browser. Only you hold the private keys: the server never sees them.` }),
    h('section', { class: 'fingerprint-box', 'aria-label': 'Your key fingerprint' },
      h('span', { class: 'label', text: 'Your key fingerprint' }),
      h('code', { class: 'fingerprint', text: fingerprint }),
      h('span', { class: 'muted small', text: 'Contacts can compare it (and your safety number) to know it is really you.' })),
    h('h2', { text: 'Save your key file' }),
    h('p', { text: 'The key file is your only way to read your messages on another browser or after clearing this one. It is encrypted with a passphrase you choose now.' }),
    exportForm(keys, username, () => {
      next.disabled = false;
      waiting.textContent = 'Key file saved. You can start chatting.';
    }, { password: () => password }),
    h('div', { class: 'divider' }),
    waiting,
    next));
}

/** Logged in on a browser without this account's keys. */
export function renderImportKeys(root, { username, onImport, onSkip, onLogout }) {
  replace(root, frame('Import your keys',
    h('p', { text: `You are logged in as ${username}, but this browser does not have your encryption keys yet.` }),
    h('div', { class: 'notice warn', role: 'note' }, icon('key'),
      h('p', { text: 'Without your keys you cannot read your messages or send new ones: everything is end-to-end encrypted, and only your key file can unlock it. Import the key file you saved when you created your account.' })),
    importForm(onImport, { submitText: 'Import keys and continue' }),
    h('div', { class: 'divider' }),
    h('div', { class: 'actions spread' },
      h('button', { type: 'button', class: 'button secondary', onclick: onSkip }, 'Continue without keys'),
      h('button', { type: 'button', class: 'link', onclick: onLogout }, 'Log out'))));
}
