// Sign in: the operator gives an admin token; /admin/v1/me says who it is.
import { forgetCaches, forgetToken, get, setToken } from './api.js';
import { el, errorText, field } from './dom.js';

export function render(root, { reason, done }) {
  const input = el('input', {
    type: 'password', name: 'token', autocomplete: 'current-password', required: true,
    spellcheck: 'false', autocapitalize: 'off',
  });
  const button = el('button', { type: 'submit' }, 'Sign in');
  const message = el('p', { class: 'form-error', role: 'alert' });
  if (reason) message.textContent = reason;
  const form = el('form', { class: 'signin', onsubmit: submit },
    field('Admin token', input, 'A bearer token from admin.tokens of the hookwall configuration. It is kept in this tab only.'),
    button, message);

  async function submit(e) {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) {
      message.textContent = 'Enter your admin token.';
      input.focus();
      return;
    }
    button.disabled = true;
    message.textContent = '';
    forgetCaches();
    setToken(token);
    try {
      const me = await get('/admin/v1/me');
      input.value = '';
      done(me);
    } catch (err) {
      forgetToken();
      message.textContent = `Sign-in failed: ${errorText(err)}`;
      input.select();
    } finally {
      button.disabled = false;
    }
  }

  root.append(el('h1', {}, 'Sign in'), form);
  input.focus();
}
