// The console's shell: the router on location.hash, the navigation (only
// the screens the signed-in role may use) and the header with the operator.
import { can, forgetCaches, forgetToken, get, hasToken, onUnauthorized } from './api.js';
import { clearNotice, el, showError } from './dom.js';
import * as signin from './signin.js';
import * as contacts from './contacts.js';
import * as contact from './contact.js';
import * as blocked from './blocked.js';
import * as tickets from './tickets.js';
import * as settings from './settings.js';
import * as deadletters from './deadletters.js';
import * as audit from './audit.js';

// screens in navigation order; role is the least role that may use one.
const screens = [
  { route: 'contacts', name: 'Recent contacts', role: 'agent', module: contacts },
  { route: 'blocked', name: 'Blocked', role: 'agent', module: blocked },
  { route: 'tickets', name: 'Blocked tickets', role: 'supervisor', module: tickets },
  { route: 'settings', name: 'Settings', role: 'agent', module: settings },
  { route: 'dead-letters', name: 'Dead letters', role: 'admin', module: deadletters },
  { route: 'audit', name: 'Audit log', role: 'admin', module: audit },
];

const session = { me: null };
let leave = null; // the current screen's clean-up (timers)
let signinReason = '';

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  return parts.map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
}

function renderHeader() {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  if (!session.me) {
    nav.replaceChildren();
    who.replaceChildren();
    return;
  }
  const [current] = parseHash();
  nav.replaceChildren(el('ul', {}, screens
    .filter((s) => can(session.me.role, s.role))
    .map((s) => el('li', {}, el('a', {
      href: `#/${s.route}`,
      'aria-current': s.route === current || (current === 'contact' && s.route === 'contacts') ? 'page' : false,
    }, s.name)))));
  who.replaceChildren(
    el('span', { class: 'me' }, el('span', { class: 'me-name' }, session.me.name), ' ', el('span', { class: 'role' }, session.me.role)),
    el('button', { type: 'button', class: 'secondary', onclick: signOut }, 'Sign out'),
  );
}

function signOut() {
  forgetToken();
  forgetCaches();
  session.me = null;
  signinReason = 'You signed out.';
  if (location.hash === '#/signin') route();
  else location.hash = '#/signin';
}

// unauthorized: a 401 from any request ends the session with its reason.
// Before sign-in completes there is no session to end: the sign-in form and
// route() show the reason themselves.
onUnauthorized((err) => {
  if (!session.me) return;
  endSession(err);
});

function endSession(err) {
  forgetToken();
  forgetCaches();
  session.me = null;
  signinReason = `Signed out: ${err.detail}`;
  if (location.hash === '#/signin') route();
  else location.hash = '#/signin';
}

function mount(title) {
  if (leave) {
    leave();
    leave = null;
  }
  const main = document.getElementById('main');
  const root = el('section', { class: 'screen', 'aria-label': title });
  main.replaceChildren(root);
  document.title = `${title} · hookwall`;
  return root;
}

async function route() {
  const [name, ...rest] = parseHash();
  clearNotice();
  if (!hasToken()) {
    session.me = null;
    renderHeader();
    const root = mount('Sign in');
    signin.render(root, { reason: signinReason, done: signedIn });
    return;
  }
  if (!session.me) {
    try {
      session.me = await get('/admin/v1/me');
    } catch (err) {
      if (err.status === 401) {
        endSession(err);
      } else {
        mount('Error').append(el('h1', {}, 'Error'),
          el('p', {}, 'hookwall did not say who this token belongs to. Try again later, or sign out.'),
          el('button', { type: 'button', class: 'secondary', onclick: signOut }, 'Sign out'));
        showError(err, 'Could not read who you are:');
      }
      return;
    }
  }
  signinReason = '';
  if (name === 'signin' || name === '') {
    location.replace('#/contacts');
    return;
  }
  renderHeader();
  const ctx = { me: session.me, params: rest };
  if (name === 'contact') {
    const root = mount('Contact');
    leave = contact.render(root, ctx) || null;
    focusMain();
    return;
  }
  const screen = screens.find((s) => s.route === name);
  if (!screen) {
    mount('Not found').append(el('h1', {}, 'Not found'), el('p', {}, 'There is no such screen.'));
    return;
  }
  const root = mount(screen.name);
  if (!can(session.me.role, screen.role)) {
    root.append(el('h1', {}, screen.name), el('p', {}, `Your role (${session.me.role}) cannot use this screen; it needs ${screen.role}.`));
    return;
  }
  leave = screen.module.render(root, ctx) || null;
  focusMain();
}

let firstRoute = true;

// focusMain moves focus to the new screen after a navigation, so keyboard
// and screen reader users start at its heading.
function focusMain() {
  if (firstRoute) {
    firstRoute = false;
    return;
  }
  document.getElementById('main').focus({ preventScroll: false });
}

// signedIn opens the screen a link asked for, else Recent contacts.
function signedIn(me) {
  session.me = me;
  signinReason = '';
  const [name] = parseHash();
  if (name && name !== 'signin') route();
  else location.hash = '#/contacts';
}

window.addEventListener('hashchange', route);
route();
