// A small local password strength estimate for the registration and password-change forms:
// character classes and length give an upper bound on the guesses needed, repeats,
// sequences and keyboard runs count for little, and a common password (or one with digits
// and symbols added around it) or the user's own name is "very weak". Below MIN_SCORE a
// password is refused before anything is sent; with the length rule and the breached list
// (views/auth.js) it is all the checking a new password gets, as the server never sees it
// (OPAQUE, docs/PROTOCOL.md §18).

import { COMMON } from './common.js';

export const LABELS = ['Very weak', 'Weak', 'Fair', 'Good', 'Strong'];
/** Below this score a password is refused before it is sent. */
export const MIN_SCORE = 1;

const LEET = { 0: 'o', 1: 'i', 3: 'e', 4: 'a', 5: 's', 7: 't', '@': 'a', $: 's', '!': 'i', '|': 'l', '+': 't' };
const ROWS = ['`1234567890-=', 'qwertyuiop[]\\', "asdfghjkl;'", 'zxcvbnm,./'];

const deleet = (s) => [...s].map((c) => LEET[c] ?? c).join('');
const stripEnds = (s) => s.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, '');

function keyboardNeighbours(a, b) {
  for (const row of ROWS) {
    const i = row.indexOf(a);
    if (i >= 0 && (row[i + 1] === b || row[i - 1] === b)) return true;
  }
  return false;
}

/** Characters that a guesser would not predict from the one before them. */
function surprisingLength(chars) {
  let n = 0;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i].toLowerCase();
    const p = i ? chars[i - 1].toLowerCase() : null;
    const predictable = p !== null && (c === p || Math.abs(c.codePointAt(0) - p.codePointAt(0)) === 1 || keyboardNeighbours(p, c));
    n += predictable ? 0.2 : 1;
  }
  return n;
}

function poolSize(pw) {
  let pool = 0;
  if (/[a-z]/.test(pw)) pool += 26;
  if (/[A-Z]/.test(pw)) pool += 26;
  if (/[0-9]/.test(pw)) pool += 10;
  if (/[\x20-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]/.test(pw)) pool += 33;
  if (/[^\x00-\x7f]/.test(pw)) pool += 100;
  return pool || 1;
}

/**
 * { score 0–4, label, warning, suggestion } for a password; `personal` lists the user's
 * own words (username, email), which make a password guessable.
 */
export function estimate(password, personal = []) {
  const chars = [...password];
  const lower = password.toLowerCase();
  const plain = deleet(lower);
  const result = (score, warning = '', suggestion = '') => ({ score, label: LABELS[score], warning, suggestion });
  if (!chars.length) return result(0);

  if (COMMON.has(lower) || COMMON.has(plain)) {
    return result(0, 'This is one of the most common passwords.', 'Use a few unrelated words, or a password manager.');
  }
  const stems = [stripEnds(lower), deleet(stripEnds(lower)), stripEnds(plain)];
  if (stems.some((stem) => stem.length >= 3 && COMMON.has(stem))) {
    return result(0, 'A common password with digits or symbols added is still easy to guess.', 'Use a few unrelated words, or a password manager.');
  }
  const own = personal.map((w) => (w || '').toLowerCase().split('@')[0]).filter((w) => w.length >= 3);
  const usesOwn = own.some((w) => plain.includes(deleet(w)));
  if (usesOwn && stripEnds(plain.replace(own.find((w) => plain.includes(deleet(w))), '')).length < 4) {
    return result(0, 'Your username or email is easy to guess.', 'Do not build the password from your name.');
  }

  const bits = surprisingLength(chars) * Math.log2(poolSize(password)) - (usesOwn ? 20 : 0);
  const score = bits < 30 ? 0 : bits < 45 ? 1 : bits < 60 ? 2 : bits < 80 ? 3 : 4;
  let warning = '';
  if (usesOwn) warning = 'Your username or email is easy to guess.';
  else if (surprisingLength(chars) < chars.length * 0.6) warning = 'Repeated characters, sequences and keyboard runs are easy to guess.';
  else if (/^\d+$/.test(password)) warning = 'A number alone is easy to guess.';
  const suggestion = score >= 3 ? '' : 'Make it longer: a few unrelated words are easy to remember and hard to guess.';
  return result(score, warning, suggestion);
}
