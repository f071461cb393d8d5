// Shared pieces of the list screens: the channel filter, a table that
// pages with "More", and the refresh of a list while its screen is open.
import { channels, get, withQuery } from './api.js';
import { clearNotice, el, errorText, field, showError } from './dom.js';

// REFRESH_MS is how often an open list refreshes itself.
export const REFRESH_MS = 3000;

// PAGE is the rows a list asks for at a time; MAX_LIMIT is the most the
// admin API gives in one answer.
export const PAGE = 50;
const MAX_LIMIT = 500;

// refreshLimit is how many rows a refresh asks for to keep the shown ones,
// what "More" brought in included.
export function refreshLimit(shown) {
  return Math.min(MAX_LIMIT, Math.max(PAGE, shown));
}

// autoRefresh calls load() every ms until root leaves the document (the
// screen is gone) or the returned stop() is called. A refresh is skipped
// while the previous one still runs. A failing refresh is told once, not at
// every tick, and its notice goes once a refresh succeeds again.
export function autoRefresh(root, load, ms = REFRESH_MS) {
  let inFlight = false;
  let lastError = '';
  let timer = 0;
  const stop = () => clearInterval(timer);
  timer = setInterval(async () => {
    if (!root.isConnected) {
      stop();
      return;
    }
    if (inFlight) return;
    inFlight = true;
    try {
      await load();
      if (lastError && root.isConnected) {
        lastError = '';
        clearNotice();
      }
    } catch (err) {
      if (!root.isConnected || errorText(err) === lastError) return;
      lastError = errorText(err);
      showError(err, 'The list could not be refreshed:');
    } finally {
      inFlight = false;
    }
  }, ms);
  return stop;
}

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

// pagedTable is a table whose rows come a page at a time. load(cursor,
// limit) returns {items, next_cursor}; row(item) returns a <tr>. reload()
// starts again from the first page; refresh() loads the first page again
// with as many rows as are shown, so that what "More" brought in stays,
// and rejects when it fails (for autoRefresh).
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
  let shown = []; // the items whose rows are shown
  let pages = 0; // pages asked for: a refresh older than one is stale
  let paging = false;

  function fill(items) {
    tbody.replaceChildren(...items.map((item) => labelCells(row(item), columns)));
    shown = items;
  }

  async function page(first) {
    const gen = first ? ++generation : generation;
    more.disabled = true;
    paging = true;
    pages++;
    status.textContent = 'Loading…';
    try {
      const res = await load(first ? '' : cursor, PAGE);
      if (gen !== generation) return;
      const items = (res && res.items) || [];
      if (first) {
        fill(items);
      } else {
        for (const item of items) tbody.append(labelCells(row(item), columns));
        shown = shown.concat(items);
      }
      cursor = (res && res.next_cursor) || '';
      more.hidden = !cursor;
      status.textContent = shown.length === 0 ? empty : '';
    } catch (err) {
      if (gen !== generation) return;
      status.textContent = '';
      showError(err);
    } finally {
      more.disabled = false;
      if (gen === generation) paging = false;
    }
  }

  async function refresh() {
    if (paging) return; // a first page or "More" is on its way
    const seen = pages;
    const res = await load('', refreshLimit(shown.length));
    if (seen !== pages || paging) return;
    const items = (res && res.items) || [];
    cursor = (res && res.next_cursor) || '';
    more.hidden = !cursor;
    status.textContent = items.length === 0 ? empty : '';
    // Unchanged: keep the rows, and the focus in them, as they are.
    if (JSON.stringify(items) !== JSON.stringify(shown)) fill(items);
  }

  more.addEventListener('click', () => page(false));
  const node = el('div', { class: 'list' }, el('div', { class: 'table-wrap' }, table), status, more);
  return { node, reload: () => page(true), refresh };
}

// channelList puts on the screen a titled listing of the API at path,
// filtered by channel, paged with More and refreshed while the screen is
// open; it returns the refresh's stop function.
export function channelList(root, { title, path, caption, columns, empty, row }) {
  let channel = '';
  const list = pagedTable({
    caption, columns, empty, row,
    load: (cursor, limit) => get(withQuery(path, { channel, cursor, limit })),
  });
  root.append(
    el('h1', {}, title),
    channelFilter((v) => {
      channel = v;
      list.reload();
    }),
    list.node);
  list.reload();
  return autoRefresh(root, list.refresh);
}
