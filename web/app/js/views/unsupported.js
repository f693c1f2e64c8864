// Shown when the browser lacks a WebCrypto algorithm the app needs.

import { h, icon, replace } from '../ui/dom.js';

export function renderUnsupported(root, missing) {
  replace(root, h('main', { class: 'auth' },
    h('div', { class: 'auth-card', role: 'alert' },
      h('div', { class: 'brand' }, icon('lock', 'brand-icon'), h('span', { text: 'securechat' })),
      h('h1', { text: 'This browser cannot run securechat' }),
      h('p', { text: 'securechat encrypts everything in your browser, and this browser is missing features it needs:' }),
      h('ul', { class: 'missing' }, missing.map((m) => h('li', { text: m }))),
      h('p', { class: 'muted', text: 'Use a current version of Chrome, Edge, Firefox or Safari, over https:// (or on localhost).' }))));
}
