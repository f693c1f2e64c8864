// The login and registration screens, with inline validation of every field. The register
// form follows the server's registration mode (open, by invitation, closed), and every refusal
// the server gives is shown as it says it, beside the form.

import { h, icon, replace } from '../ui/dom.js';
import { busy, field, formMessage } from '../ui/forms.js';
import { strengthMeter } from '../ui/strength.js';
import { isBreached } from '../password/breached.js';

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

/**
 * The length rule for a new password (the server's former rule: at least 10 characters, at
 * most 1024 bytes). With OPAQUE the server never sees the password, so these checks and
 * checkBreached() are the only ones (docs/PROTOCOL.md §18.2).
 */
export function checkPassword(pw) {
  if ([...pw].length < 10) return 'Use at least 10 characters.';
  if (new TextEncoder().encode(pw).length > 1024) return 'Use at most 1024 bytes.';
  return null;
}

/** The server's former list of the most common breached passwords (password/breached.js). */
export function checkBreached(pw) {
  return isBreached(pw) ? 'This password is one of the most common breached passwords; choose another.' : null;
}

function card(title, subtitle, ...content) {
  return h('main', { class: 'auth' },
    h('div', { class: 'auth-card' },
      h('div', { class: 'brand' }, icon('lock', 'brand-icon'), h('span', { text: 'securechat' })),
      h('h1', { text: title }),
      subtitle ? h('p', { class: 'muted', text: subtitle }) : null,
      ...content));
}

/**
 * The login screen. `message` (optional) explains why the user is here; `messageKind` is
 * 'info' or 'success'. `onForgot` opens the forgotten-password screen.
 */
export function renderLogin(root, { message, messageKind = 'info', onLogin, onShowRegister, onForgot }) {
  const user = field('Username or email', { autocomplete: 'username', required: true, autofocus: true, spellcheck: false });
  const pass = field('Password', { type: 'password', autocomplete: 'current-password', required: true });
  const msg = formMessage();
  if (message) msg.show(message, messageKind);
  const submit = h('button', { type: 'submit', class: 'button primary wide' }, 'Log in');
  const forgot = onForgot ? h('p', { class: 'forgot' }, h('button', { type: 'button', class: 'link', onclick: onForgot }, 'Forgot password?')) : null;
  const form = h('form', { class: 'form', novalidate: true }, user.row, pass.row, forgot, msg.el, submit);
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

/** The server's words for a refused registration, when it gave none. */
const REFUSALS = {
  registration_closed: 'Registration is closed on this server. Ask its operator for an account.',
  invite_invalid: 'This invitation code is not valid. Ask for a new invitation.',
  ip_refused: 'Registration was refused from this network address.',
};

/**
 * The registration screen. `server` is GET /api/v1/server's answer (or null when it could not
 * be read); `invite` a code from an invitation link. `onRegister({ username, email, password,
 * invite })` does the work.
 */
export function renderRegister(root, { server = null, invite = '', onRegister, onShowLogin }) {
  const mode = server?.registration || 'open';
  const toLogin = h('p', { class: 'switch' }, 'Already have an account? ', h('button', { type: 'button', class: 'link', onclick: onShowLogin }, 'Log in'));
  if (mode === 'closed') {
    replace(root, card('Create your account', null,
      h('div', { class: 'notice warn', role: 'status' }, icon('lock'),
        h('p', { text: 'Registration is closed on this server. Ask its operator for an account.' })),
      toLogin));
    return;
  }
  const user = field('Username', { autocomplete: 'username', required: true, spellcheck: false, maxLength: 64 }, { hint: '3–32 characters: a–z, 0–9, “_”, “.”, “-”.' });
  const email = field('Email', { type: 'email', autocomplete: 'email', required: true, spellcheck: false });
  const pass = field('Password', { type: 'password', autocomplete: 'new-password', required: true }, { hint: 'At least 10 characters.' });
  const strength = strengthMeter(pass.input, () => [user.input.value, email.input.value]);
  const confirm = field('Confirm password', { type: 'password', autocomplete: 'new-password', required: true });
  // An invitation code: asked for in invite mode (optional for the very first account), and
  // also when the server's mode is unknown but a link brought one.
  const inviteNeeded = mode === 'invite' && !server?.first_account;
  const code = mode === 'invite' || (!server && invite)
    ? field(inviteNeeded ? 'Invitation code' : 'Invitation code (optional)', { autocomplete: 'off', spellcheck: false, required: inviteNeeded, value: invite, maxLength: 512 }, {
      hint: server?.first_account
        ? 'This server has no account yet: the first one needs no invitation.'
        : 'From your invitation link, or the code the server’s operator gave you.',
    })
    : null;
  const msg = formMessage();
  const submit = h('button', { type: 'submit', class: 'button primary wide' }, 'Create account');
  const checks = [
    [user, () => checkUsername(user.input.value)],
    [email, () => checkEmail(email.input.value)],
    [pass, () => checkPassword(pass.input.value) || strength.check() || checkBreached(pass.input.value)],
    [confirm, () => (confirm.input.value === pass.input.value ? null : 'The passwords do not match.')],
  ];
  if (inviteNeeded) checks.unshift([code, () => (code.input.value.trim() ? null : 'Enter the invitation code you received. Registration on this server needs one.')]);
  const touched = new Set();
  for (const [f, check] of checks) {
    f.input.addEventListener('blur', () => {
      if (f.input.value) touched.add(f);
      if (touched.has(f)) f.setError(check());
    });
    f.input.addEventListener('input', () => touched.has(f) && f.setError(check()));
  }
  const intro = mode === 'invite' && !server?.first_account
    ? h('p', { class: 'small muted', text: 'This server registers new accounts by invitation.' })
    : null;
  const form = h('form', { class: 'form', novalidate: true }, intro, code?.row, user.row, email.row, pass.row, strength.el, confirm.row, msg.el, submit);
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
    code?.setError(null);
    await busy(submit, 'Creating your keys…', async () => {
      try {
        await onRegister({
          username: normalizeUsername(user.input.value),
          email: email.input.value.trim(),
          password: pass.input.value,
          invite: code ? code.input.value.trim() : '',
        });
      } catch (err) {
        const target = { username_taken: user, email_taken: email, username: user, email: email, password: pass, invite: code }[err.code === 'invalid_field' ? err.field : err.code];
        if (err.code in REFUSALS) {
          // A refusal stays beside the form until the next try: it says what to do.
          const text = err.message || REFUSALS[err.code];
          if (err.code === 'invite_invalid' && code) {
            code.setError(text);
            code.input.focus();
          } else {
            msg.show(text);
          }
        } else if (target) {
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
    toLogin));
  (code && !code.input.value ? code.input : user.input).focus();
}
