// Account dialogs from the avatar menu: manage keys (fingerprint, export, import, rotate),
// change password, log out.

import { h, icon } from '../ui/dom.js';
import { confirmDialog, openDialog, toast } from '../ui/dialog.js';
import { busy, field, formMessage } from '../ui/forms.js';
import { exportForm, groupFingerprint, importForm } from './keyfile-forms.js';
import { checkBreached, checkPassword } from './auth.js';
import { strengthMeter } from '../ui/strength.js';

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** Manage keys. `ctx` = { keys, api, username, onImport(text, passphrase) }. */
export async function openKeysDialog(ctx) {
  const fingerprint = groupFingerprint(await ctx.keys.fingerprint());
  return openDialog('Manage keys', (close) => {
    const table = h('table', { class: 'keys-table' });
    const renderKeys = () => {
      table.replaceChildren(
        h('caption', { class: 'visually-hidden', text: 'Your encryption keys' }),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Key id' }), h('th', { scope: 'col', text: 'Created' }), h('th', { scope: 'col', text: 'Status' }))),
        h('tbody', {}, ctx.keys.encryptionKeys().reverse().map((k) => h('tr', {},
          h('td', {}, h('code', { text: k.keyId })),
          h('td', { text: dateFmt.format(k.createdAt) }),
          h('td', {}, h('span', { class: `tag ${k.status}`, text: k.status === 'active' ? 'Active' : 'Retired' }))))));
    };
    renderKeys();
    const backup = h('p', { class: 'notice warn', role: 'status', hidden: !ctx.keys.needsBackup, text: 'Your newest key is not in a saved key file yet. Export a new key file.' });
    const exportBox = h('div', { class: 'subpanel', hidden: true }, exportForm(ctx.keys, ctx.username, () => {
      backup.hidden = true;
      ctx.onBackedUp?.();
    }));
    const importBox = h('div', { class: 'subpanel', hidden: true },
      h('p', { class: 'small muted', text: 'Importing replaces the keys in this browser with those of the file (for this same account), for example after you rotated keys on another device.' }),
      importForm(async (text, passphrase) => {
        await ctx.onImport(text, passphrase);
        toast('Keys imported.');
        close(true);
      }));
    const show = (box) => {
      for (const b of [exportBox, importBox]) b.hidden = b !== box ? true : !b.hidden;
      box.querySelector('input')?.focus();
    };
    const rotate = h('button', { type: 'button', class: 'button secondary' }, icon('retry'), 'Rotate encryption key');
    rotate.addEventListener('click', async () => {
      const ok = await confirmDialog('Rotate your encryption key?', 'A new encryption key is made and published; new messages are encrypted to it. Older keys stay in this browser so old messages still open. Other browsers need a new key file afterwards.', { confirm: 'Rotate' });
      if (!ok) return;
      await busy(rotate, 'Rotating…', async () => {
        try {
          await ctx.keys.rotate(ctx.api);
          renderKeys();
          backup.hidden = false;
          ctx.onRotated?.();
          toast('New encryption key published. Save a new key file.');
        } catch (e) {
          toast(e.message, { error: true });
        }
      });
    });
    return [
      h('section', { class: 'fingerprint-box' },
        h('span', { class: 'label', text: 'Your key fingerprint' }),
        h('code', { class: 'fingerprint', text: fingerprint }),
        h('span', { class: 'muted small', text: `Account ${ctx.username} · user id ${ctx.keys.userId}` })),
      backup,
      h('h3', { text: 'Encryption keys' }),
      table,
      h('div', { class: 'actions wrap' },
        h('button', { type: 'button', class: 'button secondary', 'aria-controls': 'export-box', onclick: () => show(exportBox) }, icon('download'), 'Export key file'),
        h('button', { type: 'button', class: 'button secondary', onclick: () => show(importBox) }, icon('key'), 'Import key file'),
        rotate),
      exportBox,
      importBox,
    ];
  }, { className: 'wide' }).result;
}

/** Change password. `personal` lists the user's own words (the username) for the meter. */
export function openPasswordDialog(api, personal = []) {
  return openDialog('Change password', (close) => {
    const current = field('Current password', { type: 'password', autocomplete: 'current-password', required: true });
    const next = field('New password', { type: 'password', autocomplete: 'new-password', required: true }, { hint: 'At least 10 characters.' });
    const strength = strengthMeter(next.input, () => personal);
    const confirm = field('Confirm new password', { type: 'password', autocomplete: 'new-password', required: true });
    const msg = formMessage();
    const submit = h('button', { type: 'submit', class: 'button primary' }, 'Change password');
    const form = h('form', { class: 'form', novalidate: true }, current.row, next.row, strength.el, confirm.row,
      h('p', { class: 'small muted', text: 'Your other sessions will be logged out. Your keys and messages are not affected.' }),
      msg.el, h('div', { class: 'actions' }, h('button', { type: 'button', class: 'button secondary', onclick: () => close() }, 'Cancel'), submit));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      current.setError(current.input.value ? null : 'Enter your current password.');
      const error = checkPassword(next.input.value) || strength.check() || checkBreached(next.input.value);
      next.setError(error);
      const mismatch = !error && confirm.input.value !== next.input.value ? 'The passwords do not match.' : null;
      confirm.setError(mismatch);
      if (!current.input.value || error || mismatch) return;
      await busy(submit, 'Changing…', async () => {
        try {
          await api.changePassword(current.input.value, next.input.value);
          close(true);
          toast('Password changed. Your other sessions were logged out.');
        } catch (err) {
          if (err.code === 'wrong_password') current.setError('This is not your current password.');
          else if (err.field === 'new_password') next.setError(err.message);
          else msg.show(err.message);
        }
      });
    });
    return form;
  }).result;
}

/** Log out, optionally removing the keys from this browser. Resolves { forget } or undefined. */
export function openLogoutDialog() {
  return openDialog('Log out', (close) => {
    const forget = h('input', { type: 'checkbox', id: 'forget-keys' });
    return [
      h('p', { text: 'Log out of securechat on this browser?' }),
      h('div', { class: 'check-row' }, forget, h('label', { htmlFor: 'forget-keys', text: 'Also remove my keys from this browser (on a shared computer). You will need your key file to read your messages here again.' })),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'button secondary', onclick: () => close() }, 'Cancel'),
        h('button', { type: 'button', class: 'button primary', autofocus: true, onclick: () => close({ forget: forget.checked }) }, 'Log out')),
    ];
  }).result;
}
