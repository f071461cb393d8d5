// Tiny DOM helpers. Text is only ever set as text: el() appends strings as
// text nodes, so contact ids, notes and messages can never become markup.

// el builds an element: el('button', {type: 'button', onclick: f}, 'Send').
// attrs: class, for, hidden/disabled/required (booleans), on* (functions),
// href (only "#..." routes of this console), any other string attribute.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) {
      if (typeof value !== 'function') throw new TypeError(`el: ${key} must be a function`);
      node.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      node.className = value;
    } else if (key === 'for') {
      node.htmlFor = value;
    } else if (key === 'href') {
      if (!String(value).startsWith('#')) throw new TypeError('el: only # routes may be links');
      node.setAttribute('href', value);
    } else if (key === 'style' || key === 'srcdoc') {
      throw new TypeError(`el: ${key} is not allowed`);
    } else if (value === true) {
      node.setAttribute(key, '');
    } else {
      node.setAttribute(key, String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.append(child);
    else node.append(document.createTextNode(String(child)));
  }
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

// fmtTime formats an RFC 3339 time in the browser's time zone.
export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : timeFormat.format(d);
}

// timeEl is a <time> element showing iso in the browser's time zone.
export function timeEl(iso) {
  if (!iso) return el('span', { class: 'muted' }, '—');
  return el('time', { datetime: iso }, fmtTime(iso));
}

// contactHash is the console route of a contact, each part percent-encoded.
export function contactHash(channel, contact) {
  return `#/contact/${encodeURIComponent(channel)}/${encodeURIComponent(contact)}`;
}

// contactLink is a link to a contact's view, its text the contact id.
export function contactLink(channel, contact) {
  if (!contact) return el('span', { class: 'muted' }, '—');
  return el('a', { href: contactHash(channel, contact), class: 'contact' }, contact);
}

// notice shows a message in the page's live region. kind: "success" or
// "error". It stays until the next action, notice or screen: nothing
// vanishes before it is read.
export function notice(kind, ...parts) {
  const box = document.getElementById('notice');
  box.replaceChildren(...parts.map((p) => (p instanceof Node ? p : document.createTextNode(String(p)))));
  box.className = `notice ${kind}`;
  box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  box.hidden = false;
}

// clearNotice hides the page's notice.
export function clearNotice() {
  const box = document.getElementById('notice');
  box.hidden = true;
  box.replaceChildren();
}

// success shows the "Success" notice with optional details.
export function success(detail) {
  notice('success', el('strong', {}, 'Success'), detail ? ` ${detail}` : '');
}

// errorText is what a person reads of an error: the problem detail.
export function errorText(err) {
  return (err && (err.detail || err.message)) || 'Something went wrong.';
}

// showError shows an error in the page's notice. 401s are left to the
// sign-in screen, which shows their reason.
export function showError(err, prefix) {
  if (err && err.status === 401) return;
  notice('error', el('strong', {}, prefix || 'Error'), ` ${errorText(err)}`);
}

// field is a labelled control: a <label> and the control, in a wrapper.
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 10)}`;
  control.id = id;
  const parts = [el('label', { for: id }, label), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute('aria-describedby', hintId);
    parts.push(el('p', { id: hintId, class: 'hint' }, hint));
  }
  return el('div', { class: 'field' }, parts);
}

// yesNo is "Yes" or "No".
export function yesNo(v) {
  return v ? 'Yes' : 'No';
}

// dash shows "—" for an empty value.
export function dash(v) {
  return v === undefined || v === null || v === '' ? el('span', { class: 'muted' }, '—') : String(v);
}
