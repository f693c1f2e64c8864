// Message text as DOM nodes with its web addresses made clickable: only http(s) URLs become
// links, built with DOM APIs (never HTML from message text), opened in a new tab without
// referrer or opener, and nothing is fetched for them (no previews).

import { h } from '../ui/dom.js';

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
/** Punctuation that ends a sentence rather than the address. */
const TRAILING = /[.,;:!?'")\]}]+$/;

/** The address if it is a well-formed http(s) URL, else null. */
export function safeHref(text) {
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    if (!url.hostname) return null;
    return url.href;
  } catch {
    return null;
  }
}

/** Trailing punctuation is not part of an address, except a ')' closing one inside it. */
function trim(raw) {
  let text = raw.replace(TRAILING, '');
  const tail = raw.slice(text.length);
  if (tail.startsWith(')') && text.split('(').length > text.split(')').length) text += ')';
  return text;
}

/** Text and link nodes for `text`. */
export function linkify(text) {
  const nodes = [];
  let at = 0;
  for (const match of String(text).matchAll(URL_RE)) {
    const raw = trim(match[0]);
    const href = safeHref(raw);
    if (!href) continue;
    if (match.index > at) nodes.push(document.createTextNode(text.slice(at, match.index)));
    nodes.push(h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow', class: 'msg-link', text: raw }));
    at = match.index + raw.length;
  }
  if (at < text.length) nodes.push(document.createTextNode(text.slice(at)));
  return nodes;
}
