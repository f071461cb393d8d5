-- Removes the block entry and its index member, starts the release of the
-- contact's open ticket (release_chunk moves its messages) or deletes it,
-- tells the helpdesk and appends the audit record, all or nothing (see
-- unblock.go). It returns {'changed'} when the open ticket is not
-- A.ticket any more, {'hasticket'} when A.refuse_ticket and there is one,
-- {'busy'} when a release is in progress and this one would start another,
-- or {'ok', existed, released, deleted} (1 or 0 each).
local tid = redis.call('HGET', K.ticket, 'id')
if (tid or '') ~= A.ticket then return {'changed'} end
if tid and A.refuse_ticket == '1' then return {'hasticket'} end
if tid and A.mode == 'release' and redis.call('EXISTS', K.release) == 1 then return {'busy'} end
local existed = redis.call('DEL', K.block)
redis.call('ZREM', K.blocked, A.member)
local conv = redis.call('HGET', K.conv, 'id') or ''
local released, deleted, n, dropped = 0, 0, 0, '0'
if tid then
  local r = {ticket = K.ticket, ticket_messages = K.ticket_messages, ticket_id = K.ticket_id,
    tickets = K.tickets, channel_tickets = K.channel_tickets, release = K.release,
    release_messages = K.release_messages, releases = K.releases, tid = tid,
    member = A.member, now = A.now, ch = A.channel, ct = A.channel_type, co = A.contact,
    conv = conv, target = A.target, queue = A.queue}
  local typ = 'ticket.released'
  if A.mode == 'release' then
    n, dropped = detach(r)
    released = 1
  else
    typ = 'ticket.deleted'
    n, dropped = drop(r)
    deleted = 1
  end
  notice(K.stream, K.release, K.release_messages, {id = A.ticket_notice_id, type = typ,
    ch = A.channel, ct = A.channel_type, co = A.contact, conv = conv, blk = '1',
    ev = A.ticket_notice_payload})
end
if existed == 1 then
  notice(K.stream, K.release, K.release_messages, {id = A.unblocked_id, type = 'contact.unblocked',
    ch = A.channel, ct = A.channel_type, co = A.contact, conv = conv, blk = '0',
    ev = A.unblocked_payload})
end
local detail = 'tickets=' .. A.mode
if tid then detail = detail .. ' ticket=' .. tid .. ' messages=' .. n .. ' dropped=' .. dropped end
audit(K.audit, {at = A.now, actor = A.actor, action = 'unblock', channel = A.channel,
  contact = A.contact, ticket = tid or '', detail = detail})
return {'ok', tostring(existed), tostring(released), tostring(deleted)}
