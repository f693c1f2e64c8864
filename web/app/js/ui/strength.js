// The password strength meter under a new-password field: updated as the user types, read
// out politely to screen readers, and a check that refuses a "very weak" password before
// anything is sent (js/password/strength.js estimates; nothing is downloaded).

import { h } from './dom.js';
import { estimate, MIN_SCORE } from '../password/strength.js';

/**
 * { el, check() } for `input`; `personal()` returns the user's own words (username, email).
 * check() is null or the reason the password is refused.
 */
export function strengthMeter(input, personal = () => []) {
  const meter = h('meter', { min: 0, max: 4, low: 1.5, high: 2.5, optimum: 4, value: 0, 'aria-hidden': 'true' });
  const label = h('span', { class: 'strength-label' });
  const advice = h('span', { class: 'strength-advice small muted' });
  const el = h('div', { class: 'strength', role: 'status', 'aria-live': 'polite', hidden: true }, meter, label, advice);
  let current = estimate('');
  const update = () => {
    current = estimate(input.value, personal());
    el.hidden = !input.value;
    meter.value = current.score;
    el.dataset.score = String(current.score);
    label.textContent = `Password strength: ${current.label}`;
    advice.textContent = [current.warning, current.suggestion].filter(Boolean).join(' ');
  };
  input.addEventListener('input', update);
  return {
    el,
    check() {
      update();
      if (!input.value || current.score >= MIN_SCORE) return null;
      return 'This password is too easy to guess.';
    },
  };
}
