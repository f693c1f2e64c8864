// The composer's self-destruct control: a select bound to the conversation's timer (a
// per-conversation setting), and a line above the input that says it is on, so a timer
// never stays set without showing.

import { h, icon } from '../ui/dom.js';
import { TIMERS, timerLabel } from '../conversation-prefs.js';

export class TimerControl {
  /** `get()` gives the conversation's timer (ms or null); `set(ms)` changes it. */
  constructor(get, set) {
    this.get = get;
    this.select = h('select', { class: 'timer-select', 'aria-label': 'Self-destruct timer', title: 'Self-destruct timer: a per-conversation setting' },
      h('option', { value: '', text: 'No timer' }),
      TIMERS.map(([v, label]) => h('option', { value: String(v), text: label })));
    this.select.addEventListener('change', () => set(this.select.value ? Number(this.select.value) : null));
    this.tool = h('span', { class: 'timer-wrap' }, icon('timer'), this.select);
    this.note = h('p', { class: 'timer-note small', role: 'status', hidden: true }, icon('timer', 'icon tiny'), h('span'));
    this.update();
  }

  /** Shows the conversation's current setting. */
  update() {
    const ms = this.get();
    const value = ms ? String(ms) : '';
    if (this.select.value !== value) this.select.value = value;
    this.select.classList.toggle('active', !!ms);
    this.note.hidden = !ms;
    this.note.lastElementChild.textContent = ms ? `Disappearing messages: ${timerLabel(ms)}. New messages vanish after that time.` : '';
  }

  /** The timer for the next message (ms or null). */
  value() {
    return this.get();
  }
}
