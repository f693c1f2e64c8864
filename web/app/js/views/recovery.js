// Getting back into an account: "Forgot password?" (an emailed reset link when the server can
// send email, otherwise the operator makes one) and the "choose a new password" screen a reset
// link (#reset=<code>) opens. A reset changes the password only, never the keys.

import { h, icon, replace } from '../ui/dom.js';
import { busy, field, formMessage } from '../ui/forms.js';
import { strengthMeter } from '../ui/strength.js';
import { checkBreached, checkPassword } from './auth.js';

export const RESET_DONE = 'Password changed. Your keys did not change: to read your history on a new browser you still need your key file.';

function card(title, ...content) {
  return h('main', { class: 'auth' },
    h('div', { class: 'auth-card' },
      h('div', { class: 'brand' }, icon('lock', 'brand-icon'), h('span', { text: 'securechat' })),
      h('h1', { text: title }),
      ...content));
}

const backToLogin = (onShowLogin) => h('p', { class: 'switch' }, h('button', { type: 'button', class: 'link', onclick: onShowLogin }, 'Back to log in'));

/**
 * The screen of a reset link. `onReset(code, password)` sets the password (and throws the
 * server's refusal); the caller then goes to the login screen.
 */
export function renderReset(root, { code, onReset, onShowLogin }) {
  const next = field('New password', { type: 'password', autocomplete: 'new-password', required: true }, { hint: 'At least 10 characters.' });
  const strength = strengthMeter(next.input);
  const confirm = field('Confirm new password', { type: 'password', autocomplete: 'new-password', required: true });
  const msg = formMessage();
  const submit = h('button', { type: 'submit', class: 'button primary wide' }, 'Set new password');
  if (!code) msg.show('This reset link has no code in it. Open the whole link you received, or ask for a new one.');
  const form = h('form', { class: 'form', novalidate: true }, next.row, strength.el, confirm.row,
    h('p', { class: 'small muted', text: 'Every session of your account will be logged out. Your encryption keys and messages are not changed.' }),
    msg.el, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const error = checkPassword(next.input.value) || strength.check() || checkBreached(next.input.value);
    next.setError(error);
    const mismatch = !error && confirm.input.value !== next.input.value ? 'The passwords do not match.' : null;
    confirm.setError(mismatch);
    if (error) return next.input.focus();
    if (mismatch) return confirm.input.focus();
    if (!code) return;
    msg.clear();
    await busy(submit, 'Setting your password…', async () => {
      try {
        await onReset(code, next.input.value);
      } catch (err) {
        if (err.field === 'new_password') {
          next.setError(err.message);
          next.input.focus();
        } else {
          // reset_code_invalid says whether the code is unknown, used or expired.
          msg.show(err.message || 'The password could not be changed.');
        }
      }
    });
  });
  replace(root, card('Choose a new password',
    h('p', { class: 'muted', text: 'You opened a password reset link for your securechat account.' }),
    form,
    backToLogin(onShowLogin)));
  next.input.focus();
}

/**
 * "Forgot password?". With `emailAvailable` (the server can send email) a form asks for the
 * username or email and `onForgot(login)` asks for the link; otherwise the operator makes one.
 */
export function renderForgot(root, { emailAvailable, onForgot, onShowLogin }) {
  const operator = () => h('div', { class: 'notice info', role: 'status' }, icon('key'),
    h('p', { text: 'This server does not send email. Ask its operator for a password reset link: opening it lets you choose a new password. Your keys and messages stay as they are.' }));
  if (!emailAvailable) {
    replace(root, card('Forgot your password?', operator(), backToLogin(onShowLogin)));
    return;
  }
  const login = field('Username or email', { autocomplete: 'username', required: true, spellcheck: false });
  const msg = formMessage();
  const submit = h('button', { type: 'submit', class: 'button primary wide' }, 'Email me a reset link');
  const form = h('form', { class: 'form', novalidate: true }, login.row, msg.el, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = login.input.value.trim();
    login.setError(value ? null : 'Enter your username or email.');
    if (!value) return login.input.focus();
    msg.clear();
    await busy(submit, 'Sending…', async () => {
      try {
        await onForgot(value);
        form.replaceWith(h('div', { class: 'notice info', role: 'status' }, icon('check'),
          h('p', { text: 'If that account exists, an email with a reset link is on its way.' })));
      } catch (err) {
        if (err.code === 'not_found') form.replaceWith(operator());
        else msg.show(err.message || 'The request failed. Try again.');
      }
    });
  });
  replace(root, card('Forgot your password?',
    h('p', { class: 'muted', text: 'The server emails a link to choose a new password to the address of your account.' }),
    form,
    backToLogin(onShowLogin)));
  login.input.focus();
}
