// Blocked tickets (supervisor): the review queue, newest activity first.
// Selecting a ticket shows its messages, a page at a time with "More
// messages", and how many the full ticket dropped; Unblock Ticket releases
// them, Delete drops them; the contact stays blocked either way. The list
// refreshes itself while the screen is open.
import { channels, del, destination, get, path, post, withQuery } from './api.js';
import { contactLink, el, showError, success, timeEl } from './dom.js';
import { confirm } from './dialog.js';
import { autoRefresh, channelFilter, labelCells, PAGE, refreshLimit } from './list.js';
import { messageItem } from './contact.js';

export function render(root) {
  let channel = '';
  let cursor = '';
  let items = [];
  let selected = '';
  let lastKey = '';
  let stopped = false;

  const columns = ['Contact', 'Channel', 'Messages', 'First message', 'Last message', 'Ticket'];
  const tbody = el('tbody');
  const table = el('table', {},
    el('caption', { class: 'visually-hidden' }, 'Open blocked tickets, newest activity first'),
    el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col' }, c)))),
    tbody);
  const status = el('p', { class: 'muted', 'aria-live': 'polite' });
  const more = el('button', { type: 'button', hidden: true }, 'More');
  const detail = el('section', { class: 'ticket-detail', 'aria-labelledby': 'h-ticket-detail', hidden: true });

  root.append(
    el('h1', {}, 'Blocked tickets'),
    channelFilter((v) => {
      channel = v;
      items = [];
      cursor = '';
      refresh(true);
    }),
    el('div', { class: 'split' },
      el('div', { class: 'list' }, el('div', { class: 'table-wrap' }, table), status, more),
      detail));

  // load gets the first page again, as many tickets as are shown, so that
  // the refresh keeps what More brought in; it rejects when it fails.
  async function load(reset) {
    const forChannel = channel;
    const res = await get(withQuery('/admin/v1/blocked-tickets', { channel, limit: reset ? PAGE : refreshLimit(items.length) }));
    if (stopped || forChannel !== channel) return;
    show(res.items || [], res.next_cursor || '');
  }

  function refresh(reset) {
    load(reset).catch((err) => {
      if (!stopped) showError(err);
    });
  }

  async function loadMore() {
    more.disabled = true;
    try {
      const res = await get(withQuery('/admin/v1/blocked-tickets', { channel, limit: PAGE, cursor }));
      if (stopped) return;
      show(items.concat(res.items || []), res.next_cursor || '');
    } catch (err) {
      showError(err);
    } finally {
      more.disabled = false;
    }
  }

  function show(list, next) {
    cursor = next;
    more.hidden = !cursor;
    const sorted = list.slice().sort((a, b) => Date.parse(b.last_message_at) - Date.parse(a.last_message_at));
    const key = JSON.stringify(sorted) + selected;
    items = sorted;
    status.textContent = items.length === 0 ? 'No open blocked tickets.' : '';
    if (selected && !items.some((t) => t.id === selected)) {
      detail.replaceChildren(el('h2', { id: 'h-ticket-detail' }, 'Ticket'), el('p', {}, 'This ticket is no longer open.'));
    }
    if (key === lastKey) return; // unchanged: keep the DOM, and focus, as is
    lastKey = key;
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.ticket : '';
    tbody.replaceChildren(...items.map((t) => labelCells(row(t), columns)));
    if (focused) {
      const again = tbody.querySelector(`button[data-ticket="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  function row(t) {
    return el('tr', { class: t.id === selected ? 'selected' : '' },
      el('td', {}, contactLink(t.channel, t.contact)),
      el('td', {}, t.channel),
      el('td', { class: 'num' }, String(t.message_count), t.dropped_count ? el('span', { class: 'badge warn' }, `${t.dropped_count} dropped`) : null),
      el('td', {}, timeEl(t.first_message_at)),
      el('td', {}, timeEl(t.last_message_at)),
      el('td', {}, el('button', {
        type: 'button', class: 'secondary', 'data-ticket': t.id,
        'aria-pressed': t.id === selected ? 'true' : 'false', onclick: () => select(t.id),
      }, 'Show messages')));
  }

  async function select(id) {
    selected = id;
    lastKey = '';
    show(items, cursor);
    detail.hidden = false;
    detail.replaceChildren(el('h2', { id: 'h-ticket-detail' }, 'Ticket'), el('p', { class: 'muted' }, 'Loading…'));
    try {
      const [t, chans] = await Promise.all([
        get(path`/admin/v1/blocked-tickets/${id}`),
        channels().catch(() => []),
      ]);
      if (stopped || selected !== id) return;
      showTicket(t, chans.find((c) => c.id === t.channel) || null);
    } catch (err) {
      if (stopped || selected !== id) return;
      detail.replaceChildren(el('h2', { id: 'h-ticket-detail' }, 'Ticket'), el('p', {}, 'This ticket could not be loaded.'));
      showError(err);
    }
  }

  function showTicket(t, channel) {
    const dest = destination(channel);
    const n = t.message_count;
    const messages = `${n} message${n === 1 ? '' : 's'}`;
    const done = (text) => {
      selected = '';
      detail.hidden = true;
      detail.replaceChildren();
      success(text);
      refresh(false);
    };
    const release = el('button', { type: 'button' }, 'Unblock Ticket');
    release.addEventListener('click', () => confirm('Unblock ticket',
      [`Send this ticket's ${messages} to ${dest}?`, 'The contact stays blocked.'],
      () => post(path`/admin/v1/blocked-tickets/${t.id}/unblock`),
      (r) => done(`${r.messages} message${r.messages === 1 ? '' : 's'} sent to ${r.routed_to === 'bot' ? 'BOT' : 'Unassigned'}.`)));
    const remove = el('button', { type: 'button', class: 'danger' }, 'Delete');
    remove.addEventListener('click', () => confirm('Delete ticket',
      [`Delete this ticket and its ${messages}? They are gone for good.`, 'The contact stays blocked.'],
      () => del(path`/admin/v1/blocked-tickets/${t.id}`),
      () => done('The ticket is deleted.'), true));
    const d = t.dropped_count || 0;
    // The list scrolls in its box: focusable, so that a keyboard scrolls it.
    const list = el('ol', { class: 'messages', tabindex: '0', 'aria-label': 'Messages of the ticket' });
    const shown = el('p', { class: 'muted', 'aria-live': 'polite' });
    const moreMessages = el('button', { type: 'button', class: 'secondary' }, 'More messages');
    let next = '';
    // add shows a page of the ticket's messages after those shown.
    const add = (page) => {
      list.append(...(page.messages || []).map((m) => messageItem(m, false)));
      next = page.next_cursor || '';
      moreMessages.hidden = !next;
      shown.textContent = `Showing ${list.children.length} of ${messages}.`;
    };
    moreMessages.addEventListener('click', async () => {
      moreMessages.disabled = true;
      try {
        const page = await get(withQuery(path`/admin/v1/blocked-tickets/${t.id}`, { cursor: next }));
        if (stopped || selected !== t.id) return;
        add(page);
      } catch (err) {
        if (!stopped) showError(err);
      } finally {
        moreMessages.disabled = false;
      }
    });
    add(t);
    detail.replaceChildren(
      el('h2', { id: 'h-ticket-detail' }, 'Ticket of ', el('span', { class: 'contact' }, t.contact)),
      el('p', {}, `On ${t.channel}: ${messages}, oldest first.`),
      el('p', { class: 'warn', hidden: d === 0 },
        `${d} older message${d === 1 ? ' was' : 's were'} dropped: a full ticket keeps its newest messages.`),
      list, shown, moreMessages,
      el('div', { class: 'actions' }, release, remove));
  }

  more.addEventListener('click', loadMore);
  refresh(true);
  const stop = autoRefresh(root, () => load(false));
  return () => {
    stopped = true;
    stop();
  };
}
