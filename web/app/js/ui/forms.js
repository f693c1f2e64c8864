// Form fields with labels and inline validation messages tied to the input for screen
// readers (aria-describedby, aria-invalid).

import { h } from './dom.js';

let counter = 0;

/**
 * A labelled field: { row, input, setError(text|null) }. `hint` is shown under the input
 * until an error replaces it.
 */
export function field(label, attrs = {}, { hint = '', multiline = false } = {}) {
  counter += 1;
  const id = `f${counter}`;
  const msgId = `${id}-msg`;
  const input = h(multiline ? 'textarea' : 'input', { id, 'aria-describedby': msgId, ...attrs });
  const msg = h('p', { class: 'field-msg', id: msgId, text: hint });
  const row = h('div', { class: 'field' }, h('label', { htmlFor: id, text: label }), input, msg);
  const setError = (text) => {
    msg.textContent = text || hint;
    msg.classList.toggle('error', !!text);
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  };
  return { row, input, setError };
}

/** A form-level message area (role=alert when it is an error). */
export function formMessage() {
  const el = h('p', { class: 'form-msg', hidden: true });
  return {
    el,
    show(text, kind = 'error') {
      el.textContent = text;
      el.className = `form-msg ${kind}`;
      el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
      el.hidden = !text;
    },
    clear() {
      el.hidden = true;
      el.textContent = '';
    },
  };
}

/** Disables a submit button while `fn` runs, showing `busyText`. */
export async function busy(button, busyText, fn) {
  const text = button.textContent;
  button.disabled = true;
  button.textContent = busyText;
  button.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.textContent = text;
    button.removeAttribute('aria-busy');
  }
}
