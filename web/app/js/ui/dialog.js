// Modal dialogs on the native <dialog> element (focus is trapped, Escape closes) and toasts.

import { h, icon } from './dom.js';

/**
 * Opens a modal dialog. `build(close)` returns the body nodes; `close(value)` resolves the
 * returned promise. Returns { dialog, result }.
 */
export function openDialog(title, build, { className = '' } = {}) {
  let resolve;
  const result = new Promise((r) => (resolve = r));
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  const dialog = h('dialog', { class: `dialog ${className}`, 'aria-labelledby': titleId });
  const close = (value) => {
    if (dialog.open) dialog.close();
    resolve(value);
  };
  dialog.addEventListener('close', () => {
    resolve(undefined);
    dialog.remove();
  });
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) close(undefined);
  });
  dialog.append(
    h('div', { class: 'dialog-head' },
      h('h2', { id: titleId, text: title }),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close', onclick: () => close(undefined) }, icon('close'))),
    h('div', { class: 'dialog-body' }, build(close)),
  );
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, result };
}

/** A yes/no question; resolves true when confirmed. */
export function confirmDialog(title, text, { confirm = 'OK', danger = false } = {}) {
  return openDialog(title, (close) => [
    h('p', { text }),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'button secondary', onclick: () => close(false) }, 'Cancel'),
      h('button', { type: 'button', class: `button ${danger ? 'danger' : 'primary'}`, autofocus: true, onclick: () => close(true) }, confirm)),
  ]).result.then((v) => v === true);
}

/** A short message at the bottom of the screen. */
export function toast(text, { error = false, ms = 4000 } = {}) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = h('div', { class: `toast${error ? ' error' : ''}`, role: error ? 'alert' : null, text });
  box.append(item);
  setTimeout(() => item.remove(), ms);
}
