// Blocked (agent): the block entries, by channel then contact. The list
// refreshes itself while the screen is open.
import { contactLink, dash, el, timeEl } from './dom.js';
import { channelList } from './list.js';

export function render(root) {
  return channelList(root, {
    title: 'Blocked',
    path: '/admin/v1/blocked-contacts',
    caption: 'Blocked contacts',
    columns: ['Channel', 'Contact', 'Note', 'Action', 'Blocked by', 'When', 'Expires'],
    empty: 'No contact is blocked.',
    row: (b) => el('tr', {},
      el('td', {}, b.channel),
      el('td', {}, contactLink(b.channel, b.contact)),
      el('td', { class: 'note' }, dash(b.note)),
      el('td', {}, b.action),
      el('td', {}, dash(b.blocked_by)),
      el('td', {}, timeEl(b.blocked_at)),
      el('td', {}, b.expires_at ? timeEl(b.expires_at) : el('span', { class: 'muted' }, 'Never'))),
  });
}
