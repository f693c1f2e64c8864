// The contact list: every user, with an online dot updated live, search, unread counts and
// the last message, and the group conversations beside them (with a "New group" button). A
// deleted account is not offered as a new contact: it is listed only while a conversation
// with it has messages (or is open), marked as deleted.

import { h, hueOf, icon, initials, replace } from '../ui/dom.js';
import { listTime } from '../format.js';
import { groupAvatar } from './group-avatar.js';

function preview(last, meId, convs = null, group = false) {
  if (!last) return 'No messages yet';
  const who = last.from === meId ? 'You: ' : group && convs ? `${convs.username(last.from)}: ` : '';
  if (last.type === 'error') return 'Message could not be verified';
  if (last.type === 'meta') return last.body;
  if (last.hidden) return `${who}Hidden message`;
  if (last.type === 'file') return `${who}File: ${last.file?.name || 'attachment'}`;
  return who + last.body.replace(/\s+/g, ' ').slice(0, 80);
}

export class ContactList {
  constructor(ctx, { onOpen, onNewGroup = null }) {
    this.ctx = ctx;
    this.onOpen = onOpen;
    this.active = null;
    this.query = '';
    this.search = h('input', { type: 'search', class: 'search', placeholder: 'Search contacts', 'aria-label': 'Search contacts', autocomplete: 'off', spellcheck: false });
    this.search.addEventListener('input', () => {
      this.query = this.search.value.trim().toLowerCase();
      this.render();
    });
    this.list = h('ul', { class: 'contacts', 'aria-label': 'Contacts' });
    this.count = h('p', { class: 'visually-hidden', role: 'status' });
    this.newGroup = onNewGroup && ctx.convs
      ? h('button', { type: 'button', class: 'button small secondary new-group', onclick: onNewGroup }, icon('group'), 'New group')
      : null;
    this.el = h('nav', { class: 'sidebar', 'aria-label': 'Contacts' },
      h('div', { class: 'search-box' }, icon('search'), this.search, this.newGroup),
      this.count,
      this.list);
    this.render();
  }

  setActive(peer) {
    this.active = peer;
    this.render();
  }

  render() {
    const convs = this.ctx.convs;
    const all = convs ? convs.contacts() : [...(this.ctx.users || [])].filter((u) => u.id !== this.ctx.me.id).map((u) => ({ ...u, last: null, unread: 0 }));
    const contacts = all.filter((c) => !c.deleted || c.last || c.id === this.active);
    const shown = contacts.filter((c) => !this.query || c.username.toLowerCase().includes(this.query));
    const focused = this.list.contains(document.activeElement) ? document.activeElement.dataset.peer : null;
    replace(this.list, shown.map((c) => {
      const unread = c.unread ? h('span', { class: 'badge', 'aria-label': `${c.unread} unread`, text: c.unread > 99 ? '99+' : String(c.unread) }) : null;
      const button = h('button', {
        type: 'button',
        class: 'contact',
        'data-peer': c.id,
        'aria-current': c.id === this.active ? 'true' : null,
        onclick: () => this.onOpen(c.id),
      },
        c.group
          ? groupAvatar(c.id, c.username, c.color)
          : h('span', { class: `avatar ${hueOf(c.id)}`, 'aria-hidden': 'true' }, initials(c.username),
            h('span', { class: `dot${c.online && !c.deleted ? ' online' : ''}` })),
        h('span', { class: 'contact-main' },
          h('span', { class: 'contact-top' },
            h('span', { class: 'contact-name', text: c.username }),
            h('span', { class: 'visually-hidden', text: c.group ? ', group' : c.deleted ? ', account deleted' : c.online ? ', online' : ', offline' }),
            c.group ? h('span', { class: 'tag', text: c.member ? 'Group' : 'Left' }) : null,
            c.deleted ? h('span', { class: 'tag', 'aria-hidden': 'true', title: 'This account was deleted', text: 'Deleted' }) : null,
            c.keyChanged && !c.deleted ? h('span', { class: 'tag warn', title: 'Security key changed', text: 'Key changed' }) : null,
            c.last ? h('time', { class: 'small muted', text: listTime(c.last.ts) }) : null),
          h('span', { class: 'contact-bottom' },
            h('span', { class: `preview${c.unread ? ' unread' : ''}`, text: preview(c.last, this.ctx.me.id, convs, c.group) }),
            unread)));
      return h('li', {}, button);
    }));
    if (!shown.length) {
      this.list.append(h('li', { class: 'empty muted', text: contacts.length ? 'No contact matches your search.' : 'Nobody else is here yet. Invite someone to register on this server.' }));
    }
    if (this.query) this.count.textContent = `${shown.length} contacts found`;
    if (focused) this.list.querySelector(`[data-peer="${CSS.escape(focused)}"]`)?.focus();
  }
}
