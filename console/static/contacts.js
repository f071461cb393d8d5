// Recent contacts (agent): who wrote last, newest first. The list
// refreshes itself while the screen is open.
import { get, withQuery } from './api.js';
import { contactLink, dash, el, timeEl, yesNo } from './dom.js';
import { autoRefresh, channelFilter, pagedTable } from './list.js';

export function render(root) {
  let channel = '';
  const list = pagedTable({
    caption: 'Recent contacts, newest first',
    columns: ['Channel', 'Contact', 'Last message', 'Preview', 'Blocked'],
    empty: 'No contacts yet.',
    load: (cursor, limit) => get(withQuery('/admin/v1/contacts', { channel, cursor, limit })),
    row: (c) => el('tr', {},
      el('td', {}, c.channel),
      el('td', {}, contactLink(c.channel, c.contact)),
      el('td', {}, timeEl(c.last_message_at)),
      el('td', { class: 'preview' }, dash(c.preview)),
      el('td', {}, el('span', { class: c.blocked ? 'badge bad' : 'badge' }, yesNo(c.blocked)))),
  });
  root.append(
    el('h1', {}, 'Recent contacts'),
    channelFilter((v) => {
      channel = v;
      list.reload();
    }),
    list.node);
  list.reload();
  return autoRefresh(root, list.refresh);
}
