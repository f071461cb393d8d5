// Audit log (admin): who did what, newest first.
import { get, withQuery } from './api.js';
import { contactLink, dash, el, timeEl } from './dom.js';
import { pagedTable } from './list.js';

export function render(root) {
  const list = pagedTable({
    caption: 'Audit log, newest first',
    columns: ['When', 'Actor', 'Action', 'Channel', 'Contact', 'Ticket', 'Detail'],
    empty: 'Nothing audited yet.',
    load: (cursor, limit) => get(withQuery('/admin/v1/audit', { cursor, limit })),
    row: (a) => el('tr', {},
      el('td', {}, timeEl(a.at)),
      el('td', {}, dash(a.actor)),
      el('td', {}, a.action),
      el('td', {}, dash(a.channel)),
      el('td', {}, a.contact ? contactLink(a.channel, a.contact) : dash('')),
      el('td', {}, dash(a.ticket)),
      el('td', { class: 'note' }, dash(a.detail))),
  });
  root.append(el('h1', {}, 'Audit log'), list.node);
  list.reload();
}
