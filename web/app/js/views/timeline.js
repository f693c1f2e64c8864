// What the conversation pane shows, in order, computed from the messages alone (no DOM):
// day dividers ("Today", "Yesterday", a date), the "New messages" divider, local notices,
// and the messages, grouped: consecutive messages from one sender within a few minutes of
// each other form a group, and the group's time is shown once, on its last message. A group
// conversation's meta messages (its name and colour) are shown as notices.

import { dayKey, dayLabel } from '../format.js';

/** Messages further apart than this start a new group. */
export const GROUP_GAP_MS = 5 * 60 * 1000;

/**
 * items: { kind: 'day', key, label } | { kind: 'new', key } | { kind: 'notice', key, notice }
 * | { kind: 'msg', key, m, first, last }. `notices` are { id, ts, text } shown in time order
 * among the messages; `newFrom` (a server time) puts the "New messages" divider before the
 * first message from the other side received after it.
 */
export function timeline(messages, { notices = [], newFrom = null, now = Date.now() } = {}) {
  const entries = [
    ...messages.map((m) => ({ at: m.order, m })),
    ...notices.map((n) => ({ at: n.ts, notice: n })),
  ].sort((a, b) => a.at - b.at);
  const items = [];
  let lastDay = null;
  let prev = null;
  let newShown = newFrom === null;
  for (const entry of entries) {
    const ts = entry.m ? entry.m.ts : entry.notice.ts;
    const day = dayKey(ts);
    if (day !== lastDay) {
      lastDay = day;
      items.push({ kind: 'day', key: `day:${day}`, label: dayLabel(ts, now) });
      prev = null;
    }
    if (entry.notice) {
      items.push({ kind: 'notice', key: `notice:${entry.notice.id}`, notice: entry.notice });
      prev = null;
      continue;
    }
    const m = entry.m;
    if (m.type === 'meta') {
      items.push({ kind: 'notice', key: m.key, notice: { id: m.key, ts: m.ts, text: m.body, meta: true } });
      prev = null;
      continue;
    }
    if (!newShown && !m.mine && m.ts > newFrom) {
      newShown = true;
      items.push({ kind: 'new', key: 'new-messages' });
      prev = null;
    }
    const joins = prev && prev.m.mine === m.mine && prev.m.from === m.from && prev.m.type !== 'error' && m.type !== 'error' && m.ts - prev.m.ts < GROUP_GAP_MS;
    if (joins) prev.last = false;
    const item = { kind: 'msg', key: m.key, m, first: !joins, last: true };
    items.push(item);
    prev = item;
  }
  return items;
}
