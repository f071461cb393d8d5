// Settings: the block contact switch. Admins change it; others read it.
import { can, get, put } from './api.js';
import { clearNotice, el, showError, success } from './dom.js';

export function render(root, { me }) {
  const admin = can(me.role, 'admin');
  const box = el('input', { type: 'checkbox', id: 'block-contact-enabled', role: 'switch', disabled: true, 'aria-describedby': 'block-contact-desc' });
  const state = el('span', { class: 'muted', 'aria-hidden': 'true' });
  root.append(
    el('h1', {}, 'Settings'),
    el('form', { class: 'stack', onsubmit: (e) => e.preventDefault() },
      el('div', { class: 'switch' }, box, el('label', { for: 'block-contact-enabled' }, 'Enable block contact'), state),
      el('p', { id: 'block-contact-desc', class: 'hint' },
        'When on, blocked contacts\' messages are queued or recorded as their block says, and replies to them are refused. ',
        'When off, the blocklist is not consulted: every message goes to the bot or helpdesk as usual, replies are sent, and blocks are kept for when it is switched on again.'),
      admin ? null : el('p', { class: 'muted' }, `Only admins can change this; you are ${me.role}.`)));

  function showState() {
    state.textContent = box.checked ? 'On' : 'Off';
  }

  box.addEventListener('change', async () => {
    const want = box.checked;
    box.disabled = true;
    clearNotice();
    try {
      const r = await put('/admin/v1/settings', { block_contact_enabled: want });
      box.checked = !!r.block_contact_enabled;
      success(`Block contact is ${box.checked ? 'on' : 'off'}.`);
    } catch (err) {
      box.checked = !want;
      showError(err, 'The setting was not changed:');
    } finally {
      box.disabled = false;
      showState();
    }
  });

  get('/admin/v1/settings').then(
    (s) => {
      box.checked = !!s.block_contact_enabled;
      box.disabled = !admin;
      showState();
    },
    (err) => showError(err),
  );
}
