// Per-conversation settings kept in this browser's state for the account (IndexedDB, with
// the pins and counters): the self-destruct timer of each conversation, and the local notices
// its changes leave in the conversation ("You turned on disappearing messages: 1 hour").
// Nothing here reaches the peer: announcing a change to them would need a new content kind
// in the envelope (docs/WEB.md).

/** The timer choices: [milliseconds, label]. */
export const TIMERS = [
  [5000, '5 seconds'],
  [30000, '30 seconds'],
  [60000, '1 minute'],
  [300000, '5 minutes'],
  [3600000, '1 hour'],
  [86400000, '1 day'],
  [604800000, '1 week'],
];

/** Notices kept per conversation (the oldest go first). */
const MAX_NOTICES = 50;

export function timerLabel(ms) {
  return TIMERS.find(([v]) => v === ms)?.[1] || `${Math.round(ms / 1000)} seconds`;
}

/** The notice for a change from `before` to `after` (milliseconds, or null for off). */
export function timerNotice(before, after) {
  if (!after) return 'You turned off disappearing messages.';
  if (!before) return `You turned on disappearing messages: ${timerLabel(after)}.`;
  return `You changed disappearing messages to ${timerLabel(after)}.`;
}

export class ConversationPrefs {
  /** `state` is the Chat's persisted state; `persist()` saves it. */
  constructor(state, persist) {
    state.timers ??= {};
    state.notices ??= {};
    this.state = state;
    this.persist = persist;
  }

  /** The self-destruct timer of a conversation in milliseconds, or null. */
  timer(peer) {
    return this.state.timers[peer] || null;
  }

  /** Sets the timer (null: off) and leaves a notice; returns false when nothing changed. */
  setTimer(peer, ms) {
    const before = this.timer(peer);
    const after = ms || null;
    if (before === after) return false;
    if (after) this.state.timers[peer] = after;
    else delete this.state.timers[peer];
    const list = (this.state.notices[peer] ||= []);
    list.push({ id: `${Date.now()}-${list.length}`, ts: Date.now(), text: timerNotice(before, after) });
    if (list.length > MAX_NOTICES) list.splice(0, list.length - MAX_NOTICES);
    this.persist();
    return true;
  }

  /** The local notices of a conversation: [{ id, ts, text }]. */
  notices(peer) {
    return this.state.notices[peer] || [];
  }
}
