// A group's avatar: its colour is the group's meta colour (one of the avatar palette's, or
// the nearest of them: the page sets no inline styles), else derived from the group id; the
// initials are those of its name. Group avatars are rounded squares, users' are round.

import { h, hueOf, initials } from '../ui/dom.js';

/** The avatar palette (app.css .hue-0 … .hue-7), offered when a group is named. */
export const GROUP_COLORS = ['#3b6fd8', '#8a4fd0', '#c2447a', '#d0652c', '#2b9a6a', '#178ca4', '#6a7a2a', '#a0522d'];
export const COLOR_NAMES = ['Blue', 'Purple', 'Pink', 'Orange', 'Green', 'Teal', 'Olive', 'Brown'];

const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

/** The hue class of a group: its colour's (nearest in the palette) or its id's. */
export function groupHue(id, color) {
  if (!color) return hueOf(id);
  const [r, g, b] = rgb(color);
  let best = 0;
  let bestDistance = Infinity;
  GROUP_COLORS.forEach((c, i) => {
    const [r2, g2, b2] = rgb(c);
    const d = (r - r2) ** 2 + (g - g2) ** 2 + (b - b2) ** 2;
    if (d < bestDistance) [best, bestDistance] = [i, d];
  });
  return `hue-${best}`;
}

/** The avatar element of a group. */
export function groupAvatar(id, name, color, extra = '') {
  return h('span', { class: `avatar group-avatar ${groupHue(id, color)}${extra}`, 'aria-hidden': 'true', text: initials(name) });
}
