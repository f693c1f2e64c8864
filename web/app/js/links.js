// Links the server or an operator hands out: `#invite=<code>` (register with an invitation)
// and `#reset=<code>` (choose a new password). The code is in the fragment, which browsers
// never send to the server; it is taken out of the address bar at once, so it stays neither
// in the history nor in a screenshot.

const KINDS = ['invite', 'reset'];
const MAX_CODE = 512;

/** The link in the address bar ({ kind, code }) or null; a link found is removed from it. */
export function takeLink() {
  const fragment = location.hash.slice(1);
  if (!fragment) return null;
  const params = new URLSearchParams(fragment);
  const kind = KINDS.find((k) => params.has(k));
  if (!kind) return null;
  history.replaceState(null, '', location.pathname + location.search);
  const code = (params.get(kind) || '').trim();
  if (!code || code.length > MAX_CODE) return { kind, code: '' };
  return { kind, code };
}
