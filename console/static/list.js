// Shared pieces of the list screens: the channel filter and a table that
// pages with "More".
import { channels } from './api.js';
import { el, field, showError } from './dom.js';

// channelFilter is a labelled <select> of the configured channels, "" for
// all; onChange gets the chosen id.
export function channelFilter(onChange, initial) {
  const select = el('select', { name: 'channel' }, el('option', { value: '' }, 'All channels'));
  channels().then(
    (items) => {
      for (const ch of items) select.append(el('option', { value: ch.id }, ch.id));
      if (initial) select.value = initial;
    },
    (err) => showError(err, 'Could not load the channels:'),
  );
  select.addEventListener('change', () => onChange(select.value));
  return el('form', { class: 'filters', onsubmit: (e) => e.preventDefault() }, field('Channel', select));
}

// labelCells names each cell of tr after its column, for the narrow
// layout, where rows become cards and the header row is not shown.
export function labelCells(tr, columns) {
  [...tr.children].forEach((td, i) => {
    if (columns[i]) td.setAttribute('data-label', columns[i]);
  });
  return tr;
}

// pagedTable is a table whose rows come a page at a time. load(cursor)
// returns {items, next_cursor}; row(item) returns a <tr>. reload() starts
// again from the first page.
export function pagedTable({ caption, columns, load, row, empty }) {
  const tbody = el('tbody');
  const table = el('table', {},
    el('caption', { class: 'visually-hidden' }, caption),
    el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col' }, c)))),
    tbody);
  const status = el('p', { class: 'muted', 'aria-live': 'polite' });
  const more = el('button', { type: 'button', hidden: true }, 'More');
  let cursor = '';
  let generation = 0;
  let count = 0;

  async function page(first) {
    const gen = first ? ++generation : generation;
    more.disabled = true;
    status.textContent = 'Loading…';
    try {
      const res = await load(first ? '' : cursor);
      if (gen !== generation) return;
      if (first) {
        tbody.replaceChildren();
        count = 0;
      }
      const items = (res && res.items) || [];
      for (const item of items) tbody.append(labelCells(row(item), columns));
      count += items.length;
      cursor = (res && res.next_cursor) || '';
      more.hidden = !cursor;
      status.textContent = count === 0 ? empty : '';
    } catch (err) {
      if (gen !== generation) return;
      status.textContent = '';
      showError(err);
    } finally {
      more.disabled = false;
    }
  }

  more.addEventListener('click', () => page(false));
  const node = el('div', { class: 'list' }, el('div', { class: 'table-wrap' }, table), status, more);
  return { node, reload: () => page(true) };
}
