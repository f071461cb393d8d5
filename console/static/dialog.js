// Modal dialogs on the native <dialog>: showModal() keeps focus inside and
// Escape closes; on close focus returns to the control that opened it.
import { clearNotice, el, errorText } from './dom.js';

let seq = 0;

// modal opens a dialog titled title holding children. It returns the
// dialog and helpers: close(), fail(err) shows an error inside the dialog,
// busy(b) disables its buttons while a request runs.
export function modal(title, ...children) {
  const opener = document.activeElement;
  clearNotice();
  const titleId = `dlg-${++seq}`;
  const error = el('p', { class: 'form-error', role: 'alert' });
  const dialog = el('dialog', { 'aria-labelledby': titleId },
    el('h2', { id: titleId }, title), children, error);
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  return {
    dialog,
    close: () => dialog.close(),
    fail: (err) => {
      error.textContent = errorText(err);
    },
    busy: (b) => {
      for (const control of dialog.querySelectorAll('button, input, select, textarea')) control.disabled = b;
      if (b) error.textContent = '';
    },
  };
}

// confirm asks a Yes/No question. On Yes it runs action(); an error stays
// in the dialog, success closes it and calls done(result). danger marks a
// Yes that destroys something.
export function confirm(title, lines, action, done, danger) {
  const yes = el('button', { type: 'button', class: danger ? 'danger' : '' }, 'Yes');
  const no = el('button', { type: 'button', class: 'secondary' }, 'No');
  const m = modal(title, lines.map((line) => el('p', {}, line)), el('div', { class: 'actions' }, yes, no));
  no.addEventListener('click', () => m.close());
  yes.addEventListener('click', async () => {
    m.busy(true);
    try {
      const result = await action();
      m.close();
      done(result);
    } catch (err) {
      m.busy(false);
      if (err.status === 401) m.close();
      else m.fail(err);
    }
  });
  no.focus();
  return m;
}
