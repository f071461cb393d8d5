// Dead letters (admin): deliveries parked after their attempts, oldest
// first; Retry queues one again.
import { get, path, post, withQuery } from './api.js';
import { clearNotice, contactLink, el, notice, showError, success, timeEl } from './dom.js';
import { pagedTable } from './list.js';

export function render(root) {
  const list = pagedTable({
    caption: 'Dead letters, oldest first',
    columns: ['Reason', 'Attempts', 'Target', 'Contact', 'Parked at', 'Retry'],
    empty: 'No dead letters.',
    load: (cursor, limit) => get(withQuery('/admin/v1/dead-letters', { cursor, limit })),
    row,
  });

  function row(d) {
    const dl = d.delivery || {};
    const retry = el('button', { type: 'button', class: 'secondary' }, 'Retry');
    const tr = el('tr', {},
      el('td', { class: 'note' }, d.reason),
      el('td', { class: 'num' }, String(d.attempts)),
      el('td', {}, dl.target || ''),
      el('td', {}, dl.contact ? [contactLink(dl.channel, dl.contact), el('span', { class: 'muted' }, ` on ${dl.channel}`)] : el('span', { class: 'muted' }, `— (${dl.channel || 'no channel'})`)),
      el('td', {}, timeEl(d.parked_at)),
      el('td', {}, retry));
    retry.addEventListener('click', async () => {
      retry.disabled = true;
      clearNotice();
      try {
        await post(path`/admin/v1/dead-letters/${d.id}/retry`);
        tr.remove();
        success('The delivery is queued again.');
      } catch (err) {
        retry.disabled = false;
        if (err.status === 409 && err.code === 'contact_blocked') {
          notice('error', el('strong', {}, 'Not retried:'),
            ' the contact is blocked now; unblock it first or leave it parked.');
        } else {
          showError(err, 'Not retried:');
        }
      }
    });
    return tr;
  }

  root.append(el('h1', {}, 'Dead letters'), list.node);
  list.reload();
}
