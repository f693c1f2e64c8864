// "Delete account" from the account menu: says what deleting does, asks for the password, and
// hands it to `onDelete(password)` (which calls the server, clears this browser's keys and goes
// to the login screen). A wrong password is shown on its field.

import { h } from '../ui/dom.js';
import { openDialog } from '../ui/dialog.js';
import { busy, field, formMessage } from '../ui/forms.js';

export function openDeleteAccountDialog(username, onDelete) {
  return openDialog('Delete your account', (close) => {
    const pass = field('Password', { type: 'password', autocomplete: 'current-password', required: true }, { hint: 'Your account password, to confirm.' });
    const msg = formMessage();
    const submit = h('button', { type: 'submit', class: 'button danger' }, 'Delete my account');
    const form = h('form', { class: 'form', novalidate: true },
      h('p', { text: `Deleting the account ${username}:` }),
      h('ul', { class: 'consequences' },
        h('li', { text: 'removes every message you sent, for you and for the people you wrote to;' }),
        h('li', { text: 'removes the files you sent;' }),
        h('li', { text: 'logs out every session of the account, and the username cannot be registered again;' }),
        h('li', { text: 'removes your keys from this browser.' })),
      h('p', { class: 'notice warn', role: 'note', text: 'This cannot be undone.' }),
      pass.row, msg.el,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'button secondary', onclick: () => close() }, 'Cancel'),
        submit));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      pass.setError(pass.input.value ? null : 'Enter your password.');
      if (!pass.input.value) return pass.input.focus();
      msg.clear();
      await busy(submit, 'Deleting…', async () => {
        try {
          await onDelete(pass.input.value);
          close(true);
        } catch (err) {
          if (err.code === 'wrong_password') {
            pass.setError('This is not your password.');
            pass.input.select();
          } else {
            msg.show(err.message || 'The account could not be deleted.');
          }
        }
      });
    });
    return form;
  }).result;
}
