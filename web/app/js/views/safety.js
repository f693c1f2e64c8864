// The safety-number dialog: the 60 digits both users see, to compare out of band, and the
// "verified" mark.

import { h, icon } from '../ui/dom.js';
import { openDialog } from '../ui/dialog.js';
import * as b64 from '../crypto/b64.js';
import { safetyNumber } from '../crypto/fingerprint.js';
import { shortKeyId } from '../crypto/identity.js';
import { groupFingerprint } from './keyfile-forms.js';

export async function openSafetyDialog(ctx, peer, { changed = false } = {}) {
  const { chat, convs, keys } = ctx;
  const name = convs.username(peer);
  try {
    await chat.contactKeys(peer);
  } catch {
    // a changed key is shown below
  }
  const pin = chat.pin(peer);
  if (!pin) {
    return openDialog('Safety number', () => [h('p', { text: `${name}'s keys could not be loaded. Try again when you are online.` })]).result;
  }
  const theirKey = b64.decode(changed && pin.changedTo ? pin.changedTo : pin.ik, 32);
  const number = await safetyNumber({ identityKey: keys.identityPublic, userId: keys.userId }, { identityKey: theirKey, userId: peer });
  const groups = number.grouped.split(' ');
  const mine = groupFingerprint(await keys.fingerprint());
  const theirs = groupFingerprint(await shortKeyId(theirKey));
  return openDialog(`Safety number with ${name}`, (close) => {
    const state = h('p', { class: 'verify-state', role: 'status' });
    const toggle = h('button', { type: 'button', class: 'button primary' });
    const render = () => {
      const verified = chat.pin(peer)?.verified && !chat.pin(peer)?.changedTo;
      state.replaceChildren(icon(verified ? 'shield' : 'warning'), ` ${verified ? `You verified ${name}.` : `${name} is not verified yet.`}`);
      state.classList.toggle('ok', !!verified);
      toggle.textContent = verified ? 'Clear verification' : 'Mark as verified';
      toggle.hidden = !!chat.pin(peer)?.changedTo;
    };
    toggle.addEventListener('click', () => {
      chat.setVerified(peer, !chat.pin(peer)?.verified);
      render();
      convs.dispatchEvent(new Event('contacts'));
    });
    render();
    return [
      changed ? h('p', { class: 'notice warn', text: `This is the safety number with ${name}'s new key.` }) : null,
      h('p', { text: `Compare these numbers with ${name} in person or on a call. If they match on both screens, nobody is intercepting your conversation.` }),
      h('div', { class: 'safety-grid', 'aria-label': `Safety number: ${number.grouped}`, role: 'group' }, groups.map((g) => h('code', { text: g }))),
      h('dl', { class: 'key-ids' },
        h('dt', { text: 'Your key' }), h('dd', {}, h('code', { text: mine })),
        h('dt', { text: `${name}'s key` }), h('dd', {}, h('code', { text: theirs }))),
      state,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'button secondary', onclick: () => close() }, 'Close'),
        toggle),
    ];
  }, { className: 'safety' }).result;
}
