// The key-file forms shared by the first-run screen and "Manage keys": export (choose a
// passphrase, download the file) and import (pick the file, type its passphrase).

import { h, saveFile } from '../ui/dom.js';
import { busy, field, formMessage } from '../ui/forms.js';
import { readKeyFileInfo } from '../crypto/keyfile.js';

/** The key fingerprint in groups of four hex digits. */
export function groupFingerprint(hex) {
  return hex.match(/.{4}/g).join(' ');
}

export function keyFileName(username) {
  return `securechat-${username || 'keys'}.key.json`;
}

/** Passphrase + confirmation + "Download key file". `onSaved()` runs after the download. */
export function exportForm(keys, username, onSaved, { password } = {}) {
  const pass = field('Key file passphrase', { type: 'password', autocomplete: 'new-password', required: true }, { hint: 'At least 10 characters. Not your account password: the key file must stay safe even if the server is not.' });
  const confirm = field('Confirm passphrase', { type: 'password', autocomplete: 'new-password', required: true });
  const msg = formMessage();
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Download key file');
  const form = h('form', { class: 'form', novalidate: true }, pass.row, confirm.row, msg.el, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const p = pass.input.value;
    let error = [...p].length < 10 ? 'Use at least 10 characters.' : null;
    if (!error && password && p === password()) error = 'Use a different passphrase than your account password.';
    pass.setError(error);
    const mismatch = !error && confirm.input.value !== p ? 'The passphrases do not match.' : null;
    confirm.setError(mismatch);
    if (error || mismatch) return;
    await busy(submit, 'Encrypting your keys…', async () => {
      try {
        const text = await keys.exportKeyFile(p);
        saveFile(new TextEncoder().encode(text), keyFileName(username), 'application/json');
        msg.show('Key file saved. Keep it somewhere safe, such as a password manager or a USB stick.', 'success');
        pass.input.value = '';
        confirm.input.value = '';
        onSaved?.();
      } catch (err) {
        msg.show(err.message);
      }
    });
  });
  return form;
}

/**
 * File picker + passphrase + "Import". `onImport(text, passphrase)` does the import and
 * throws with a message the form shows.
 */
export function importForm(onImport, { submitText = 'Import keys' } = {}) {
  const file = field('Key file', { type: 'file', accept: '.json,application/json', required: true }, { hint: 'The securechat-….key.json file you saved.' });
  const pass = field('Passphrase', { type: 'password', autocomplete: 'off', required: true });
  const msg = formMessage();
  const submit = h('button', { type: 'submit', class: 'button primary' }, submitText);
  let text = null;
  file.input.addEventListener('change', async () => {
    text = null;
    file.setError(null);
    const chosen = file.input.files?.[0];
    if (!chosen) return;
    try {
      if (chosen.size > 256 * 1024) throw new Error('This file is too large to be a key file.');
      text = await chosen.text();
      readKeyFileInfo(text);
    } catch {
      text = null;
      file.setError('This is not a securechat key file.');
    }
  });
  const form = h('form', { class: 'form', novalidate: true }, file.row, pass.row, msg.el, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!text) return file.setError(file.input.files?.length ? 'This is not a securechat key file.' : 'Choose your key file.');
    if (!pass.input.value) return pass.setError('Enter the passphrase of the key file.');
    pass.setError(null);
    msg.clear();
    await busy(submit, 'Decrypting…', async () => {
      try {
        await onImport(text, pass.input.value);
      } catch (err) {
        if (err.code === 'KeyFileDecrypt') pass.setError('Wrong passphrase (or the file was changed).');
        else msg.show(err.message);
      }
    });
  });
  return form;
}
