// The login and registration screens, with inline validation of every field.

import { h, icon, replace } from '../ui/dom.js';
import { busy, field, formMessage } from '../ui/forms.js';
import { strengthMeter } from '../ui/strength.js';

const USERNAME = /^[a-z0-9_.-]{3,32}$/;

export function normalizeUsername(name) {
  return name.normalize('NFKC').toLowerCase();
}

export function checkUsername(name) {
  if (!name) return 'Choose a username.';
  if (!USERNAME.test(normalizeUsername(name))) return 'Use 3 to 32 characters: letters a–z, digits, “_”, “.” or “-”.';
  return null;
}

export function checkEmail(email) {
  const e = email.trim();
  if (!e) return 'Enter your email address.';
  const at = e.lastIndexOf('@');
  if (at < 1 || /\s/.test(e) || !e.slice(at + 1).includes('.') || e.endsWith('.') || new TextEncoder().encode(e).length > 254) {
    return 'Enter a valid email address, like name@example.org.';
  }
  return null;
}

export function checkPassword(pw) {
  if ([...pw].length < 10) return 'Use at least 10 characters.';
  if (new TextEncoder().encode(pw).length > 1024) return 'Use at most 1024 bytes.';
  return null;
}

function card(title, subtitle, ...content) {
  return h('main', { class: 'auth' },
    h('div', { class: 'auth-card' },
      h('div', { class: 'brand' }, icon('lock', 'brand-icon'), h('span', { text: 'securechat' })),
      h('h1', { text: title }),
      subtitle ? h('p', { class: 'muted', text: subtitle }) : null,
      ...content));
}

/** The login screen. `message` (optional) explains why the user is here. */
export function renderLogin(root, { message, onLogin, onShowRegister }) {
  const user = field('Username or email', { autocomplete: 'username', required: true, autofocus: true, spellcheck: false });
  const pass = field('Password', { type: 'password', autocomplete: 'current-password', required: true });
  const msg = formMessage();
  if (message) msg.show(message, 'info');
  const submit = h('button', { type: 'submit', class: 'button primary wide' }, 'Log in');
  const form = h('form', { class: 'form', novalidate: true }, user.row, pass.row, msg.el, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    user.setError(user.input.value.trim() ? null : 'Enter your username or email.');
    pass.setError(pass.input.value ? null : 'Enter your password.');
    if (!user.input.value.trim() || !pass.input.value) return;
    msg.clear();
    await busy(submit, 'Logging in…', async () => {
      try {
        await onLogin(user.input.value.trim(), pass.input.value);
      } catch (err) {
        msg.show(err.code === 'invalid_grant' ? 'Wrong username, email or password.' : err.message);
        pass.input.select();
      }
    });
  });
  replace(root, card('Log in', 'End-to-end encrypted chat. Your messages are encrypted in this browser.',
    form,
    h('p', { class: 'switch' }, 'New here? ', h('button', { type: 'button', class: 'link', onclick: onShowRegister }, 'Create an account'))));
  user.input.focus();
}

/** The registration screen. `onRegister({ username, email, password })` does the work. */
export function renderRegister(root, { onRegister, onShowLogin }) {
  const user = field('Username', { autocomplete: 'username', required: true, spellcheck: false, maxLength: 64 }, { hint: '3–32 characters: a–z, 0–9, “_”, “.”, “-”.' });
  const email = field('Email', { type: 'email', autocomplete: 'email', required: true, spellcheck: false });
  const pass = field('Password', { type: 'password', autocomplete: 'new-password', required: true }, { hint: 'At least 10 characters.' });
  const strength = strengthMeter(pass.input, () => [user.input.value, email.input.value]);
  const confirm = field('Confirm password', { type: 'password', autocomplete: 'new-password', required: true });
  const msg = formMessage();
  const submit = h('button', { type: 'submit', class: 'button primary wide' }, 'Create account');
  const checks = [
    [user, () => checkUsername(user.input.value)],
    [email, () => checkEmail(email.input.value)],
    [pass, () => checkPassword(pass.input.value) || strength.check()],
    [confirm, () => (confirm.input.value === pass.input.value ? null : 'The passwords do not match.')],
  ];
  const touched = new Set();
  for (const [f, check] of checks) {
    f.input.addEventListener('blur', () => {
      if (f.input.value) touched.add(f);
      if (touched.has(f)) f.setError(check());
    });
    f.input.addEventListener('input', () => touched.has(f) && f.setError(check()));
  }
  const form = h('form', { class: 'form', novalidate: true }, user.row, email.row, pass.row, strength.el, confirm.row, msg.el, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let first = null;
    for (const [f, check] of checks) {
      touched.add(f);
      const error = check();
      f.setError(error);
      if (error && !first) first = f;
    }
    if (first) return first.input.focus();
    msg.clear();
    await busy(submit, 'Creating your keys…', async () => {
      try {
        await onRegister({ username: normalizeUsername(user.input.value), email: email.input.value.trim(), password: pass.input.value });
      } catch (err) {
        const target = { username_taken: user, email_taken: email, username: user, email: email, password: pass }[err.code === 'invalid_field' ? err.field : err.code];
        if (target) {
          target.setError(err.code === 'username_taken' ? 'This username is taken.' : err.code === 'email_taken' ? 'This email address is already registered.' : err.message);
          target.input.focus();
        } else {
          msg.show(err.message || 'Registration failed.');
        }
      }
    });
  });
  replace(root, card('Create your account', 'Your encryption keys are made in this browser and never leave it unencrypted.',
    form,
    h('p', { class: 'switch' }, 'Already have an account? ', h('button', { type: 'button', class: 'link', onclick: onShowLogin }, 'Log in'))));
  user.input.focus();
}
