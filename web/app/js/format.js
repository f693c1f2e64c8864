// Formatting of times, days, sizes and countdowns for display.

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const shortDayFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });

export const time = (ms) => timeFmt.format(ms);
export const fullTime = (ms) => fullFmt.format(ms);

function startOfDay(ms) {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** A key that changes at local midnight. */
export const dayKey = (ms) => startOfDay(ms);

/** "Today", "Yesterday" or the date (relative to `now`). */
export function dayLabel(ms, now = Date.now()) {
  const today = startOfDay(now);
  const day = startOfDay(ms);
  if (day === today) return 'Today';
  const yesterday = new Date(today);
  yesterday.setDate(yesterday.getDate() - 1);
  if (day === yesterday.getTime()) return 'Yesterday';
  return dayFmt.format(ms);
}

/** Short time for the contact list: time today, else the date. */
export function listTime(ms) {
  return startOfDay(ms) === startOfDay(Date.now()) ? time(ms) : shortDayFmt.format(ms);
}

export function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let n = bytes / 1024;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

/** "0:09", "4:59", "1:02:03", "2 d" for a remaining time. */
export function countdown(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s >= 172800) return `${Math.floor(s / 86400)} d`;
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** Spoken form of a countdown for screen readers. */
export function countdownLabel(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `disappears in ${s} seconds`;
  if (s < 3600) return `disappears in ${Math.ceil(s / 60)} minutes`;
  if (s < 86400) return `disappears in ${Math.ceil(s / 3600)} hours`;
  return `disappears in ${Math.ceil(s / 86400)} days`;
}
