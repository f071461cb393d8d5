// Recent contacts (agent): who wrote last, newest first. The list
// refreshes itself while the screen is open.
import { contactLink, dash, el, timeEl, yesNo } from './dom.js';
import { channelList } from './list.js';

export function render(root) {
  return channelList(root, {
    title: 'Recent contacts',
    path: '/admin/v1/contacts',
    caption: 'Recent contacts, newest first',
    columns: ['Channel', 'Contact', 'Last message', 'Preview', 'Blocked'],
    empty: 'No contacts yet.',
    row: (c) => el('tr', {},
      el('td', {}, c.channel),
      el('td', {}, contactLink(c.channel, c.contact)),
      el('td', {}, timeEl(c.last_message_at)),
      el('td', { class: 'preview' }, dash(c.preview)),
      el('td', {}, el('span', { class: c.blocked ? 'badge bad' : 'badge' }, yesNo(c.blocked)))),
  });
}
