// The members panel of a group: every member of the verified state with their short key id
// (and safety number a click away), admin badges, and the admin actions: add members, remove
// a member, make or unmake an admin; every member may rename the group and leave. Each action
// is a change signed here on the verified head (groups.js makes it again on the new head
// after a conflict, and says so when it no longer applies).

import { h, hueOf, icon, initials, replace } from '../ui/dom.js';
import { confirmDialog, openDialog, toast } from '../ui/dialog.js';
import { field, formMessage } from '../ui/forms.js';
import { shortKeyId } from '../crypto/identity.js';
import { groupFingerprint } from './keyfile-forms.js';
import { openSafetyDialog } from './safety.js';
import { colorPicker, nameError, userPicker } from './group-create.js';

/** What the panel says once a change is made. */
function done(op, names) {
  const who = names.join(', ');
  switch (op) {
    case 'add': return `${who} ${names.length > 1 ? 'were' : 'was'} added.`;
    case 'remove': return `${who} was removed.`;
    case 'admin': return `${who} is now an admin.`;
    case 'unadmin': return `${who} is no longer an admin.`;
    default: return 'You left the group.';
  }
}

export function openGroupMembersDialog(ctx, id) {
  const { convs } = ctx;
  const groups = convs.groups;
  let onChange = null;
  const dialog = openDialog('Members', (close) => {
    const body = h('div', { class: 'members-panel' });
    const status = formMessage();
    let busy = false;

    const act = async (op, users, label) => {
      if (busy) return;
      busy = true;
      status.show(`${label}…`, 'info');
      try {
        await groups.change(id, op, users, (u) => convs.username(u));
        // New members have not seen the group's name: it is said again, to everyone.
        const meta = groups.meta(id);
        if (op === 'add' && meta) convs.setGroupMeta(id, { name: meta.name, color: meta.color });
        status.show(done(op, users.map((u) => convs.username(u))), 'success');
        if (op === 'leave') close();
      } catch (e) {
        status.show(e.message || 'The change could not be made.');
      } finally {
        busy = false;
        render();
      }
    };

    const memberRow = (m, amAdmin) => {
      const me = m.userId === ctx.me.id;
      const name = convs.username(m.userId);
      const keyId = h('code', { class: 'key-id', text: '…' });
      shortKeyId(m.ik).then((k) => (keyId.textContent = groupFingerprint(k)));
      const pin = ctx.chat.pin(m.userId);
      const actions = [];
      if (!me) actions.push(h('button', { type: 'button', class: 'button small secondary', 'aria-label': `Safety number of ${name}`, onclick: () => openSafetyDialog(ctx, m.userId).then(render) }, icon('shield'), 'Safety number'));
      if (amAdmin && !me) {
        actions.push(m.admin
          ? h('button', { type: 'button', class: 'button small secondary', 'aria-label': `Remove ${name} as admin`, onclick: () => act('unadmin', [m.userId], `Removing ${name} as admin`) }, 'Unmake admin')
          : h('button', { type: 'button', class: 'button small secondary', 'aria-label': `Make ${name} an admin`, onclick: () => act('admin', [m.userId], `Making ${name} an admin`) }, 'Make admin'));
        actions.push(h('button', { type: 'button', class: 'button small danger', 'aria-label': `Remove ${name} from the group`, onclick: async () => {
          if (await confirmDialog(`Remove ${name}?`, `${name} gets no new messages of this group from now on.`, { confirm: 'Remove', danger: true })) act('remove', [m.userId], `Removing ${name}`);
        } }, 'Remove'));
      }
      return h('li', { class: 'member', 'data-user': m.userId },
        h('span', { class: `avatar ${hueOf(m.userId)}`, 'aria-hidden': 'true', text: initials(name) }),
        h('div', { class: 'member-main' },
          h('span', { class: 'member-name' }, h('strong', { text: me ? `${name} (you)` : name }),
            m.admin ? h('span', { class: 'tag active', text: 'Admin' }) : null,
            pin?.verified && !me ? h('span', { class: 'tag active', title: 'You verified the safety number', text: 'Verified' }) : null),
          h('span', { class: 'small muted' }, 'Key ', keyId)),
        actions.length ? h('div', { class: 'member-actions' }, actions) : null);
    };

    const render = () => {
      const entry = groups.get(id);
      const members = groups.members(id);
      const amAdmin = groups.amAdmin(id);
      const isMember = groups.isMember(id);
      const sections = [];
      if (entry?.refused) {
        sections.push(h('p', { class: 'notice warn', role: 'alert', text: `${convs.username(entry.refused.user)}'s security key in this group is not the one you have pinned. The group is paused: compare the safety number with ${convs.username(entry.refused.user)}.` }));
      }
      if (entry?.chainError) sections.push(h('p', { class: 'notice warn', role: 'alert', text: entry.chainError }));
      if (!isMember) sections.push(h('p', { class: 'notice', text: 'You are no longer a member of this group.' }));
      sections.push(h('p', { class: 'small muted', text: `${members.length} member${members.length === 1 ? '' : 's'}. Compare safety numbers to be sure a member's key is really theirs.` }));
      sections.push(h('ul', { class: 'members', 'aria-label': 'Group members' }, members.map((m) => memberRow(m, amAdmin))));
      if (amAdmin) {
        const candidates = [...convs.users.values()].filter((u) => u.id !== ctx.me.id && !u.deleted && !groups.isMember(id, u.id)).sort((a, b) => a.username.localeCompare(b.username));
        const picker = userPicker(convs, candidates, 'Add members');
        sections.push(h('form', { class: 'add-members', 'aria-label': 'Add members', onsubmit: (e) => {
          e.preventDefault();
          const users = picker.selected();
          if (users.length) act('add', users, 'Adding');
        } }, picker.el, candidates.length ? h('button', { type: 'submit', class: 'button small primary' }, icon('add'), 'Add to group') : null));
      }
      if (isMember && !entry?.refused) {
        const meta = groups.meta(id);
        const name = field('Group name', { type: 'text', value: meta?.name || '', maxLength: 200, autocomplete: 'off' });
        const colors = colorPicker(meta?.color || null);
        sections.push(h('form', { class: 'rename', 'aria-label': 'Name the group', onsubmit: (e) => {
          e.preventDefault();
          const text = name.input.value.trim();
          const error = text ? nameError(text) : 'Enter a name.';
          name.setError(error);
          if (error) return;
          convs.setGroupMeta(id, { name: text, color: colors.value() });
          status.show('The group was renamed.', 'success');
        } }, name.row, colors.el, h('button', { type: 'submit', class: 'button small secondary' }, 'Save name')));
        sections.push(h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'button danger', onclick: async () => {
            if (await confirmDialog('Leave this group?', 'You get no new messages of this group from now on. Its messages so far stay here.', { confirm: 'Leave group', danger: true })) act('leave', [], 'Leaving');
          } }, 'Leave group')));
      }
      replace(body, sections, status.el);
    };
    onChange = (e) => e.detail.id === id && !busy && render();
    groups.addEventListener('change', onChange);
    render();
    groups.sync(id).catch(() => toast('Could not fetch the group’s latest members.', { error: true }));
    return body;
  }, { className: 'wide members-dialog' });
  return dialog.result.finally(() => groups.removeEventListener('change', onChange));
}
