// The "New group" dialog: pick members among the contacts, optionally a name and a colour.
// I become the group's creator and admin; the `create` change is signed here and the name
// goes to the members as the group's first (meta) message.

import { h, hueOf, initials } from '../ui/dom.js';
import { openDialog } from '../ui/dialog.js';
import { field, formMessage } from '../ui/forms.js';
import { COLOR_NAMES, GROUP_COLORS } from './group-avatar.js';
import { MAX_GROUP_NAME } from '../crypto/envelope/content.js';

/** A list of checkboxes, one per user: { el, selected() }. */
export function userPicker(convs, users, label) {
  const boxes = users.map((u) => {
    const box = h('input', { type: 'checkbox', value: u.id, 'aria-label': u.username });
    return [box, h('label', { class: 'pick' }, box, h('span', { class: `avatar small ${hueOf(u.id)}`, 'aria-hidden': 'true', text: initials(u.username) }), h('span', { text: u.username }))];
  });
  const el = h('fieldset', { class: 'picker' }, h('legend', { text: label }),
    boxes.length ? boxes.map(([, row]) => row) : h('p', { class: 'muted', text: 'Nobody else to add.' }));
  return { el, selected: () => boxes.filter(([box]) => box.checked).map(([box]) => box.value) };
}

/** A row of colour swatches (radio buttons): { el, value() }. */
export function colorPicker(current = null) {
  const name = `color-${Math.random().toString(36).slice(2)}`;
  const radios = GROUP_COLORS.map((c, i) => {
    const radio = h('input', { type: 'radio', name, value: c, checked: c === current || (!current && i === 0), 'aria-label': COLOR_NAMES[i] });
    return [radio, h('label', { class: `swatch hue-${i}`, title: COLOR_NAMES[i] }, radio)];
  });
  const el = h('fieldset', { class: 'swatches' }, h('legend', { text: 'Colour' }), radios.map(([, label]) => label));
  return { el, value: () => radios.find(([r]) => r.checked)?.[0].value || GROUP_COLORS[0] };
}

/** The group name field's check: '' (no name) or 1 to 64 characters, no control characters. */
export function nameError(name) {
  if ([...name].length > MAX_GROUP_NAME) return `Use at most ${MAX_GROUP_NAME} characters.`;
  return /[\u0000-\u001f\u007f-\u009f]/.test(name) ? 'Use no control characters (such as tabs).' : null;
}

/** Opens the dialog; resolves the new group's id, or undefined when closed. */
export function openGroupCreateDialog(ctx) {
  const { convs } = ctx;
  const contacts = [...convs.users.values()].filter((u) => u.id !== ctx.me.id && !u.deleted).sort((a, b) => a.username.localeCompare(b.username));
  return openDialog('New group', (close) => {
    const name = field('Group name (optional)', { type: 'text', maxLength: 200, autocomplete: 'off' }, { hint: 'Members see it; without one the group is named after its members.' });
    const colors = colorPicker();
    const picker = userPicker(convs, contacts, 'Members');
    const message = formMessage();
    const create = h('button', { type: 'submit', class: 'button primary', text: 'Create group' });
    const form = h('form', { class: 'group-form', 'aria-label': 'New group' },
      name.row, colors.el, picker.el, message.el,
      h('p', { class: 'small muted', text: 'You will be the group’s admin. Messages are encrypted to the members’ keys pinned in this browser; compare safety numbers to be sure of them.' }),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'button secondary', onclick: () => close(undefined) }, 'Cancel'),
        create));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const users = picker.selected();
      const text = name.input.value.trim();
      name.setError(nameError(text));
      if (nameError(text)) return;
      if (!users.length) return message.show('Pick at least one member.');
      create.disabled = true;
      message.show('Creating the group…', 'info');
      try {
        const id = await convs.createGroup(users, text ? { name: text, color: colors.value() } : null);
        close(id);
      } catch (err) {
        create.disabled = false;
        message.show(err.message || 'The group could not be created.');
      }
    });
    return form;
  }, { className: 'wide' }).result;
}
