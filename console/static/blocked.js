// Blocked (agent): the block entries, by channel then contact. The list
// refreshes itself while the screen is open.
import { get, withQuery } from './api.js';
import { contactLink, dash, el, timeEl } from './dom.js';
import { autoRefresh, channelFilter, pagedTable } from './list.js';

export function render(root) {
  let channel = '';
  const list = pagedTable({
    caption: 'Blocked contacts',
    columns: ['Channel', 'Contact', 'Note', 'Action', 'Blocked by', 'When', 'Expires'],
    empty: 'No contact is blocked.',
    load: (cursor, limit) => get(withQuery('/admin/v1/blocked-contacts', { channel, cursor, limit })),
    row: (b) => el('tr', {},
      el('td', {}, b.channel),
      el('td', {}, contactLink(b.channel, b.contact)),
      el('td', { class: 'note' }, dash(b.note)),
      el('td', {}, b.action),
      el('td', {}, dash(b.blocked_by)),
      el('td', {}, timeEl(b.blocked_at)),
      el('td', {}, b.expires_at ? timeEl(b.expires_at) : el('span', { class: 'muted' }, 'Never'))),
  });
  root.append(
    el('h1', {}, 'Blocked'),
    channelFilter((v) => {
      channel = v;
      list.reload();
    }),
    list.node);
  list.reload();
  return autoRefresh(root, list.refresh);
}
