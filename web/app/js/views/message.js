// One message in a conversation: text with clickable links (or a hidden message behind an
// eye button), a file card with progress and an image thumbnail, its time (on the last
// message of a group), self-destruct countdown, delivery status and actions.

import { h, icon } from '../ui/dom.js';
import { countdown, countdownLabel, fullTime, size, time } from '../format.js';
import { linkify } from './linkify.js';
import { messageMenu, onLongPress } from './message-menu.js';

const STATUS = {
  sending: ['clock', 'Sending'],
  sent: ['check', 'Sent'],
  read: ['checks', 'Read'],
  failed: ['warning', 'Not sent'],
};

/** What decides whether a message's element must be rebuilt. */
export function versionOf(m) {
  const p = m.progress;
  return [m.status, m.revealed, m.error, m.ts, m.expiresAt, m.file?.fileId ? 1 : 0, p ? `${p.stage}:${p.total ? Math.floor((100 * p.done) / p.total) : 0}` : ''].join('|');
}

function progressBar(p, label) {
  const percent = p.total ? Math.floor((100 * p.done) / p.total) : 0;
  return h('div', { class: 'progress' },
    h('progress', { max: 100, value: percent, 'aria-label': `${label}: ${p.stage}` }),
    h('span', { class: 'small', text: `${p.stage}… ${percent}%` }));
}

function thumbnail(m, url, handlers) {
  return h('button', { type: 'button', class: 'thumb', 'data-role': 'thumbnail', 'aria-label': `Download ${m.file.name}`, title: m.file.name, onclick: () => handlers.onDownload(m) },
    h('img', { src: url, alt: m.file.name, class: 'thumb-img' }));
}

function fileCard(m, handlers, thumb) {
  const f = m.file;
  const ready = !!f.fileId;
  let action = null;
  if (m.progress) action = progressBar(m.progress, f.name);
  else if (ready && (!m.mine || m.status !== 'sending')) {
    action = h('button', { type: 'button', class: 'button small secondary', 'data-role': 'download', 'aria-label': `Download ${f.name}`, onclick: () => handlers.onDownload(m) }, icon('download'), 'Download');
  }
  if (thumb && !m.progress) {
    return h('div', { class: 'file-card has-thumb' }, thumbnail(m, thumb, handlers),
      h('div', { class: 'file-info' },
        h('span', { class: 'file-name', text: f.name, title: f.name }),
        h('span', { class: 'small muted', text: `${size(f.size)} · encrypted` })));
  }
  return h('div', { class: 'file-card' },
    h('span', { class: 'file-icon' }, icon('file')),
    h('div', { class: 'file-info' },
      h('span', { class: 'file-name', text: f.name, title: f.name }),
      h('span', { class: 'small muted', text: `${size(f.size)} · encrypted` })),
    action);
}

function body(m, handlers, thumb) {
  if (m.type === 'error') return h('p', { class: 'text unverified' }, icon('warning'), ' ', m.body);
  const content = [];
  if (m.type === 'file') content.push(fileCard(m, handlers, thumb));
  if (m.body) content.push(h('p', { class: 'text', dir: 'auto' }, linkify(m.body)));
  if (!m.hidden) return content;
  const button = h('button', {
    type: 'button',
    class: `reveal${m.revealed ? ' open' : ''}`,
    'data-role': 'reveal',
    'aria-pressed': m.revealed ? 'true' : 'false',
    'aria-label': m.revealed ? 'Hide message' : 'Show hidden message',
    title: m.revealed ? 'Hide message' : 'Show hidden message',
    onclick: () => handlers.onReveal(m),
  }, icon(m.revealed ? 'eyeOff' : 'eye'), h('span', { text: m.revealed ? 'Hide' : 'Hidden message' }));
  return [button, m.revealed ? h('div', { class: 'hidden-content' }, content) : null];
}

/**
 * The element of a message. `first`/`last`: its place in a group of consecutive messages
 * from one sender (the time is shown on the last); `thumb`: the object URL of its image;
 * in a group conversation `sender` names the sender (over the first of theirs) and `readBy`
 * the members who read it (under mine).
 */
export function renderMessage(m, handlers, { first = true, last = true, thumb = null, sender = null, readBy = [] } = {}) {
  const meta = [];
  if (m.expiresAt) {
    meta.push(h('span', { class: 'countdown', 'data-expires': String(m.expiresAt), 'aria-label': countdownLabel(m.expiresAt - Date.now()) },
      icon('timer', 'icon tiny'), h('span', { text: countdown(m.expiresAt - Date.now()) })));
  } else if (m.expiresInMs && m.status === 'sending') {
    meta.push(h('span', { class: 'countdown' }, icon('timer', 'icon tiny')));
  }
  if (m.ts && m.status !== 'sending' && last) meta.push(h('time', { dateTime: new Date(m.ts).toISOString(), title: fullTime(m.ts), text: time(m.ts) }));
  if (m.mine && STATUS[m.status]) {
    const [name, label] = STATUS[m.status];
    meta.push(h('span', { class: `status ${m.status}`, role: 'img', 'aria-label': label, title: label }, icon(name, 'icon tiny')));
  }
  const bubble = h('div', { class: `bubble${m.hidden ? ' is-hidden' : ''}`, title: m.ts && m.status !== 'sending' ? fullTime(m.ts) : null }, body(m, handlers, thumb), meta.length ? h('div', { class: 'meta' }, meta) : null);
  const actions = [];
  if (m.mine && m.status === 'failed') {
    if (m.error) bubble.append(h('p', { class: 'small error-text', text: m.error }));
    actions.push(h('button', { type: 'button', class: 'icon-button small', 'data-role': 'retry', 'aria-label': 'Retry sending', title: 'Retry', onclick: () => handlers.onRetry(m) }, icon('retry')));
  }
  const canDelete = handlers.canDeleteForEveryone ? handlers.canDeleteForEveryone(m) : m.mine && m.id && !m.id.startsWith('local:') && m.type !== 'error';
  if (m.mine && canDelete) {
    actions.push(h('button', { type: 'button', class: 'icon-button small msg-delete', 'data-role': 'delete', 'aria-label': 'Delete message for everyone', title: 'Delete for everyone', onclick: () => handlers.onDelete(m) }, icon('trash')));
  }
  const menu = messageMenu(m, handlers);
  if (menu) {
    actions.push(menu.button, menu.menu);
    onLongPress(bubble, menu.open);
  }
  const group = `${first ? ' group-first' : ''}${last ? ' group-last' : ''}`;
  const el = h('div', { class: `msg ${m.mine ? 'mine' : 'theirs'}${m.type === 'error' ? ' error' : ''}${group}`, 'data-key': m.key, 'data-msg-id': m.id || '' },
    bubble,
    actions.length ? h('div', { class: 'msg-actions' }, actions) : null);
  if (!sender && !readBy.length) return el;
  return h('div', { class: `msg-block ${m.mine ? 'from-me' : 'from-them'}${first ? ' group-first' : ''}` },
    sender ? h('span', { class: 'sender small', text: sender }) : null,
    el,
    readBy.length ? h('p', { class: 'read-by small muted', text: `Read by ${readBy.join(', ')}` }) : null);
}

/** Updates every countdown on the page (called each second). */
export function tickCountdowns(root) {
  const now = Date.now();
  for (const el of root.querySelectorAll('[data-expires]')) {
    const left = Number(el.dataset.expires) - now;
    el.lastElementChild.textContent = countdown(left);
    el.setAttribute('aria-label', countdownLabel(left));
  }
}
