// A message's actions menu ("Delete for me", "Delete for everyone", in a group "Who read
// it" on mine; a group's admin may delete anyone's message for everyone): opened by its visible
// "Message actions" button (shown on touch screens without hover), or by a long press on the
// message. Escape or a press outside closes it.

import { h, icon } from '../ui/dom.js';

const LONG_PRESS_MS = 500;
const MOVE_TOLERANCE_PX = 10;

/** The menu's items for a message: [label, role, handler, icon]. */
function items(m, handlers) {
  const list = [];
  if (m.id && !m.id.startsWith('local:') && m.type !== 'error' && m.status !== 'sending') {
    if (m.mine && handlers.onWhoRead) list.push(['Who read it', 'who-read', () => handlers.onWhoRead(m), 'checks']);
    list.push(['Delete for me', 'delete-for-me', () => handlers.onDeleteForMe(m)]);
    const everyone = handlers.canDeleteForEveryone ? handlers.canDeleteForEveryone(m) : m.mine;
    if (everyone) list.push(['Delete for everyone', 'delete-for-everyone', () => handlers.onDelete(m)]);
  }
  return list;
}

/** { button, menu, open() } for a message, or null when it has no actions. */
export function messageMenu(m, handlers) {
  const entries = items(m, handlers);
  if (!entries.length) return null;
  const menu = h('div', { class: 'menu msg-menu', role: 'menu', 'aria-label': 'Message actions', hidden: true });
  const button = h('button', {
    type: 'button', class: 'icon-button small msg-more', 'data-role': 'actions', 'aria-label': 'Message actions',
    'aria-haspopup': 'menu', 'aria-expanded': 'false', title: 'More actions',
  }, icon('more'));
  const close = () => {
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', outside, true);
    document.removeEventListener('keydown', escape, true);
  };
  const outside = (e) => !menu.contains(e.target) && !button.contains(e.target) && close();
  const escape = (e) => {
    if (e.key !== 'Escape') return;
    e.stopPropagation();
    close();
    button.focus();
  };
  for (const [label, role, run, iconName = 'trash'] of entries) {
    menu.append(h('button', { type: 'button', class: 'menu-item', role: 'menuitem', 'data-role': role, onclick: () => { close(); run(); } }, icon(iconName), label));
  }
  const open = () => {
    if (!menu.hidden) return;
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    document.addEventListener('pointerdown', outside, true);
    document.addEventListener('keydown', escape, true);
    menu.querySelector('[role="menuitem"]')?.focus();
  };
  button.addEventListener('click', () => (menu.hidden ? open() : close()));
  return { button, menu, open };
}

/** Calls `onLongPress` when a touch or pen rests on `el` without moving. */
export function onLongPress(el, onLongPress) {
  let timer = null;
  let start = null;
  const cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  el.addEventListener('pointerdown', (e) => {
    if (e.pointerType === 'mouse') return;
    start = [e.clientX, e.clientY];
    cancel();
    timer = setTimeout(() => {
      timer = null;
      onLongPress();
    }, LONG_PRESS_MS);
  });
  el.addEventListener('pointermove', (e) => {
    if (timer && start && Math.hypot(e.clientX - start[0], e.clientY - start[1]) > MOVE_TOLERANCE_PX) cancel();
  });
  for (const type of ['pointerup', 'pointercancel', 'pointerleave']) el.addEventListener(type, cancel);
}
