-- Releases or deletes one ticket by id (A.op: release or delete), tells the
-- helpdesk and audits it. A release only starts here (detach; release_chunk
-- moves the messages): it answers busy, changing nothing, while the contact
-- has a release in progress, which the caller finishes first. It returns
-- {'busy', ticket, messages, queue} of the release in progress,
-- {'missing'}, or {'ok', messages}.
if A.op == 'release' and redis.call('EXISTS', K.release) == 1 then
  local r = redis.call('HMGET', K.release, 'ticket', 'n', 'queue')
  return {'busy', r[1] or '', r[2] or '0', r[3] or ''}
end
if redis.call('HGET', K.ticket, 'id') ~= A.ticket then return {'missing'} end
local conv = redis.call('HGET', K.conv, 'id') or ''
local r = {ticket = K.ticket, ticket_messages = K.ticket_messages, ticket_id = K.ticket_id,
  tickets = K.tickets, channel_tickets = K.channel_tickets, release = K.release,
  release_messages = K.release_messages, releases = K.releases, tid = A.ticket,
  member = A.member, now = A.now, ch = A.channel, ct = A.channel_type, co = A.contact,
  conv = conv, target = A.target, queue = A.queue}
local n, dropped
local nt = {id = A.notice_id, type = 'ticket.' .. A.op .. 'd', ch = A.channel, ct = A.channel_type,
  co = A.contact, conv = conv, blk = '1', ev = A.notice_payload}
if A.op == 'release' then
  n, dropped = detach(r)
else
  n, dropped = drop(r)
end
-- After detach the release is in progress: the notice follows its messages.
notice(K.stream, K.release, K.release_messages, nt)
audit(K.audit, {at = A.now, actor = A.actor, action = 'ticket.' .. A.op, channel = A.channel,
  contact = A.contact, ticket = A.ticket,
  detail = 'messages=' .. n .. ' dropped=' .. dropped .. ' routed_to=' .. A.queue})
return {'ok', tostring(n)}
