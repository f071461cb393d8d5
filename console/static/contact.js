// Contact view (agent): a contact's block status, latest conversation and
// open blocked ticket, with Block, Unblock and a reply box.
import { can, channels, destination, get, path, post } from './api.js';
import { clearNotice, dash, el, errorText, field, showError, success, timeEl } from './dom.js';
import { modal } from './dialog.js';

export function render(root, { me, params }) {
  const [channelId, contactId] = params;
  root.append(el('h1', {}, 'Contact'));
  if (!channelId || !contactId) {
    root.append(el('p', {}, 'No contact given.'));
    return;
  }
  root.append(el('p', { class: 'ident' },
    el('span', { class: 'label' }, 'Channel '), el('strong', {}, channelId),
    el('span', { class: 'label' }, ' · Contact '), el('strong', { class: 'contact' }, contactId)));
  const body = el('div', { class: 'contact-view', 'aria-busy': 'true' }, el('p', { class: 'muted' }, 'Loading…'));
  root.append(body);
  const base = path`/admin/v1/channels/${channelId}/contacts/${contactId}`;
  const supervisor = can(me.role, 'supervisor');

  async function load() {
    body.setAttribute('aria-busy', 'true');
    try {
      const [status, conversation, chans] = await Promise.all([
        get(base),
        get(`${base}/conversation`).catch((err) => {
          if (err.status === 404 && err.code === 'not_found') return null;
          throw err;
        }),
        channels().catch((err) => {
          showError(err, 'Could not load the channels:');
          return [];
        }),
      ]);
      // The contact's open blocked ticket, as the status reports it.
      const ticket = status.open_ticket || null;
      if (!root.isConnected) return;
      const channel = chans.find((c) => c.id === channelId) || null;
      // The view is rebuilt: keep focus on the button of the same name
      // (the dialog gives it back to its opener, which is replaced here).
      const active = document.activeElement;
      const refocus = active && active.tagName === 'BUTTON' && body.contains(active) ? active.textContent : '';
      body.replaceChildren(...[
        statusSection(status, channel, ticket),
        conversationSection(conversation),
        ticketSection(ticket),
        replySection(status)].filter(Boolean));
      if (refocus) {
        const again = [...body.querySelectorAll('button')].find((b) => b.textContent === refocus && !b.disabled);
        if (again) again.focus();
      }
    } catch (err) {
      if (!root.isConnected) return;
      body.replaceChildren(el('p', { class: 'muted' }, 'This contact could not be loaded.'));
      showError(err);
    } finally {
      body.setAttribute('aria-busy', 'false');
    }
  }

  function statusSection(status, channel, ticket) {
    const b = status.blocked ? status.block : null;
    const section = el('section', { 'aria-labelledby': 'h-status' },
      el('h2', { id: 'h-status' }, 'Status'),
      el('p', { class: 'status' }, el('span', { class: status.blocked ? 'badge bad' : 'badge ok' }, status.blocked ? 'Blocked' : 'Not blocked')),
      status.enforced ? null : el('p', { class: 'warn' }, el('strong', {}, 'Blocking is switched off'),
        ': blocks are kept but not applied, and replies are sent.'));
    if (b) {
      section.append(el('dl', { class: 'entry' },
        el('dt', {}, 'Note'), el('dd', { class: 'note' }, dash(b.note)),
        el('dt', {}, 'Action'), el('dd', {}, b.action),
        el('dt', {}, 'Blocked by'), el('dd', {}, dash(b.blocked_by)),
        el('dt', {}, 'When'), el('dd', {}, timeEl(b.blocked_at)),
        el('dt', {}, 'Expires'), el('dd', {}, b.expires_at ? timeEl(b.expires_at) : 'Never')));
    }
    const actions = el('div', { class: 'actions' },
      el('button', { type: 'button', onclick: () => blockDialog(channel, b) }, 'Block'));
    if (status.blocked || ticket) {
      actions.append(el('button', { type: 'button', class: 'secondary', onclick: () => unblockDialog(channel, ticket) }, 'Unblock'));
    }
    section.append(actions);
    return section;
  }

  function blockDialog(channel, current) {
    const note = el('textarea', { name: 'note', maxlength: 1000, rows: 3 });
    const action = el('select', { name: 'action' },
      el('option', { value: 'queue' }, 'queue'),
      el('option', { value: 'record' }, 'record'));
    action.value = (channel && channel.blocked_action) || (current && current.action) || 'queue';
    const expires = el('input', { type: 'datetime-local', name: 'expires' });
    const submit = el('button', { type: 'submit', class: 'danger' }, 'Block');
    const cancel = el('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const form = el('form', { class: 'stack' },
      field('Note', note, 'Why, for the other agents. At most 1000 characters.'),
      field('Action', action, 'queue: new messages wait in a blocked ticket for a supervisor. record: they reach the helpdesk only, never the bot.'),
      field('Expires', expires, 'Optional, in your time zone. Empty: the block stays until someone unblocks.'),
      el('div', { class: 'actions' }, submit, cancel));
    const m = modal('Block contact', el('p', {}, 'Block ', el('strong', {}, contactId), ' on ', channelId, '?'), form);
    cancel.addEventListener('click', () => m.close());
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const req = { note: note.value, action: action.value };
      if (expires.value) {
        const at = new Date(expires.value);
        if (Number.isNaN(at.getTime())) {
          m.fail({ detail: 'Expires is not a valid date and time.' });
          return;
        }
        req.expires_at = at.toISOString();
      }
      m.busy(true);
      try {
        await post(`${base}/block`, req);
        m.close();
        success('The contact is blocked.');
        load();
      } catch (err) {
        m.busy(false);
        if (err.status === 401) m.close();
        else if (err.code === 'feature_disabled') {
          m.fail({ detail: `Blocking is switched off in Settings (an admin can switch "Enable block contact" on): ${errorText(err)}.` });
        } else m.fail(err);
      }
    });
    note.focus();
  }

  // ticketCount says how many blocked tickets the contact has, and how
  // many messages they hold.
  function ticketCount(ticket) {
    return el('p', {}, `This contact has ${ticket ? 1 : 0} blocked ticket${ticket ? '' : 's'}`,
      ticket ? ` (${ticket.message_count} message${ticket.message_count === 1 ? '' : 's'}).` : '.');
  }

  // unblockDialog: a supervisor chooses what happens to the contact's
  // blocked ticket (Unblock All / Delete All). The tickets are the
  // supervisors' review queue, so an agent gets agentUnblockDialog.
  function unblockDialog(channel, ticket) {
    if (!supervisor) {
      agentUnblockDialog(channel, ticket);
      return;
    }
    const dest = destination(channel);
    const count = ticketCount(ticket);
    const all = el('button', { type: 'button', 'aria-describedby': 'unblock-all-desc' }, 'Unblock All');
    const delAll = el('button', { type: 'button', class: 'danger', 'aria-describedby': 'delete-all-desc' }, 'Delete All');
    const cancel = el('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const m = modal('Unblock contact', count,
      el('div', { class: 'choice' }, all, el('p', { id: 'unblock-all-desc' }, `Unblock, and send a blocked ticket's messages to ${dest}.`)),
      el('div', { class: 'choice' }, delAll, el('p', { id: 'delete-all-desc' }, "Unblock, and delete a blocked ticket's messages: they are gone for good.")),
      el('div', { class: 'actions' }, cancel));
    cancel.addEventListener('click', () => m.close());
    const run = (tickets) => async () => {
      m.busy(true);
      try {
        const r = await post(`${base}/unblock`, { tickets });
        m.close();
        const parts = [r.unblocked ? 'The contact is unblocked.' : 'The contact was not blocked.'];
        if (r.released) parts.push(`${r.released} ticket released to ${dest}.`);
        if (r.deleted) parts.push(`${r.deleted} ticket deleted.`);
        success(parts.join(' '));
        load();
      } catch (err) {
        m.busy(false);
        if (err.status === 401) m.close();
        else m.fail(err);
      }
    };
    all.addEventListener('click', run('release'));
    delAll.addEventListener('click', run('delete'));
    cancel.focus();
  }

  // agentUnblockDialog: an agent unblocks a contact without a blocked
  // ticket (the request names no tickets action). A contact with one is left
  // to a supervisor: unblocking would release or delete the ticket, which
  // the API refuses an agent.
  function agentUnblockDialog(channel, ticket) {
    const dest = destination(channel);
    const close = el('button', { type: 'button', class: 'secondary' }, ticket ? 'Close' : 'Cancel');
    if (ticket) {
      const m = modal('Unblock contact', ticketCount(ticket),
        el('p', {}, `A supervisor handles this contact's blocked ticket: they decide whether its messages go to ${dest} `,
          'or are deleted. Unblocking the contact does one or the other, so only a supervisor can unblock it while ',
          'the ticket is open.'),
        el('p', {}, 'Ask a supervisor. Once they have released or deleted the ticket, you can unblock the contact here.'),
        el('div', { class: 'actions' }, close));
      close.addEventListener('click', () => m.close());
      close.focus();
      return;
    }
    const unblock = el('button', { type: 'button' }, 'Unblock');
    const m = modal('Unblock contact', ticketCount(null),
      el('p', {}, 'Unblock ', el('strong', {}, contactId), ' on ', channelId, `? Their new messages will go to ${dest}.`),
      el('div', { class: 'actions' }, unblock, close));
    close.addEventListener('click', () => m.close());
    unblock.addEventListener('click', async () => {
      m.busy(true);
      try {
        const r = await post(`${base}/unblock`, {});
        m.close();
        const parts = [r.unblocked ? 'The contact is unblocked.' : 'The contact was not blocked.'];
        if (r.released) parts.push(`${r.released} ticket released to ${dest}.`);
        success(parts.join(' '));
        load();
      } catch (err) {
        m.busy(false);
        if (err.status === 401) {
          m.close();
        } else if (err.code === 'forbidden') {
          // A message came in meanwhile and opened a blocked ticket.
          unblock.disabled = true;
          m.fail({ detail: `Not unblocked: ${errorText(err)}. A supervisor handles this contact now.` });
          load();
        } else m.fail(err);
      }
    });
    close.focus();
  }

  function conversationSection(conv) {
    const section = el('section', { 'aria-labelledby': 'h-conv' }, el('h2', { id: 'h-conv' }, 'Conversation'));
    if (!conv) {
      section.append(el('p', { class: 'muted' }, 'No conversation yet.'));
      return section;
    }
    section.append(el('p', { class: 'muted' }, `Latest conversation, ${conv.status}, started `, timeEl(conv.started_at),
      conv.ended_at ? [', ended ', timeEl(conv.ended_at)] : null, '.'));
    const msgs = conv.messages || [];
    if (msgs.length === 0) {
      section.append(el('p', { class: 'muted' }, 'No messages.'));
      return section;
    }
    section.append(el('ol', { class: 'messages' }, msgs.map((m) => {
      const ev = m.message || {};
      return messageItem(ev, m.decision === 'recorded');
    })));
    return section;
  }

  function ticketSection(ticket) {
    const section = el('section', { 'aria-labelledby': 'h-ticket' }, el('h2', { id: 'h-ticket' }, 'Blocked ticket'));
    if (!ticket) {
      section.append(el('p', { class: 'muted' }, 'No open blocked ticket.'));
      return section;
    }
    const d = ticket.dropped_count || 0;
    section.append(
      el('p', {}, `Open ticket with ${ticket.message_count} message${ticket.message_count === 1 ? '' : 's'}, first `,
        timeEl(ticket.first_message_at), ', last ', timeEl(ticket.last_message_at), '.'),
      el('p', { class: 'warn', hidden: d === 0 },
        `${d} older message${d === 1 ? ' was' : 's were'} dropped: a full ticket keeps its newest messages.`),
      supervisor
        ? el('p', {}, el('a', { href: '#/tickets' }, 'Review it in Blocked tickets'))
        : el('p', { class: 'muted' }, 'A supervisor reviews it, and unblocks this contact: unblocking releases or deletes the ticket.'));
    return section;
  }

  function replySection(status) {
    const off = status.blocked && status.enforced;
    const text = el('textarea', { name: 'text', rows: 3, maxlength: 5000, required: true, disabled: off });
    const send = el('button', { type: 'submit', disabled: off }, 'Send');
    const form = el('form', { class: 'stack' }, field('Reply', text), off
      ? el('p', { class: 'warn', id: 'reply-off' }, 'Replies are off: this contact is blocked.')
      : null, el('div', { class: 'actions' }, send));
    if (off) text.setAttribute('aria-describedby', 'reply-off');
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearNotice();
      if (!text.value.trim()) {
        showError({ detail: 'Write a reply first.' });
        text.focus();
        return;
      }
      send.disabled = true;
      try {
        const r = await post(path`/v1/channels/${channelId}/contacts/${contactId}/messages`, { text: text.value });
        text.value = '';
        success(r && r.id ? `Reply sent (id ${r.id}).` : 'Reply sent.');
      } catch (err) {
        showError(err, 'Reply not sent:');
      } finally {
        send.disabled = off;
      }
    });
    return el('section', { 'aria-labelledby': 'h-reply' }, el('h2', { id: 'h-reply' }, 'Send a reply'), form);
  }

  load();
}

// messageItem is one stored event: when, what type, its text.
export function messageItem(ev, recorded) {
  const m = ev.message || null;
  return el('li', { class: 'message' },
    el('div', { class: 'meta' }, timeEl(ev.received_at), ' ', el('span', { class: 'type' }, ev.type || 'event'),
      recorded ? el('span', { class: 'badge warn' }, 'automation off') : null),
    m && typeof m.text === 'string'
      ? el('p', { class: 'text' }, m.text)
      : el('p', { class: 'muted' }, m ? `(${m.type || 'non-text'} message)` : '(no message content)'));
}
