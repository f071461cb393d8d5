-- Decides one inbound event and stores the result, all in one round trip on
-- the contact's slot: dedupe marker, the recent-contacts index, then (when
-- the feature is on) the block entry, then either the blocked ticket
-- (queue), or the delivery entry and the conversation (record, forward).
-- See ingest.go for the whole story. It returns {decision, conversation,
-- ticket, messages the ticket dropped}.
--
-- The contact's event before this one in the same request must be stored
-- first. A server that lost its scripts (a restart, a failover) refuses a
-- call with NOSCRIPT and the executor sends it again after the pipeline;
-- had another connection loaded the script meanwhile, this event would run
-- before the one refused. It answers outoforder then, storing nothing, and
-- the request is retried whole.
if A.has_prev == '1' and redis.call('EXISTS', K.prev_dedupe) == 0 then
  return {'outoforder', '', '', '0'}
end
if not redis.call('SET', K.dedupe, A.envelope, 'NX', 'PX', A.dedupe_ms) then
  -- With a replicated acknowledgement, a duplicate may be the retry of a
  -- try answered 503 because its writes had not reached the replicas yet.
  -- The marker is written again, as it is, so that the WAIT after this
  -- script waits for them too: a duplicate is acknowledged only once the
  -- first try's writes are replicated.
  if A.ack_duplicate == '1' then
    redis.call('SET', K.dedupe, redis.call('GET', K.dedupe), 'XX', 'KEEPTTL')
  end
  return {'duplicate', '', '', '0'}
end
local contact = A.contact
if contact ~= '' and A.event_type == 'message' then
  local m = A.channel .. '\0' .. contact
  local cur = redis.call('ZSCORE', K.recent, m)
  if not cur or tonumber(cur) <= tonumber(A.now) then
    redis.call('ZADD', K.recent, A.now, m)
    redis.call('HSET', K.recent_preview, m, A.preview)
  end
  local gone = redis.call('ZRANGEBYSCORE', K.recent, '-inf', '(' .. A.recent_oldest)
  local over = redis.call('ZCARD', K.recent) - #gone - tonumber(A.recent_kept)
  if over > 0 then
    for _, x in ipairs(redis.call('ZRANGE', K.recent, #gone, #gone + over - 1)) do gone[#gone + 1] = x end
  end
  if #gone > 0 then
    redis.call('ZREMRANGEBYRANK', K.recent, 0, #gone - 1)
    for i = 1, #gone, 500 do redis.call('HDEL', K.recent_preview, unpack(gone, i, math.min(i + 499, #gone))) end
  end
  redis.call('PEXPIRE', K.recent, A.recent_age_ms)
  redis.call('PEXPIRE', K.recent_preview, A.recent_age_ms)
end
local action = false
if contact ~= '' then
  local enabled = redis.call('HGET', K.settings, 'block_contact_enabled') or A.default_enabled
  if enabled == '1' then action = redis.call('HGET', K.block, 'action') end
end
-- The message's delivery entry; a queued one waits in the ticket.
local e = {id = A.envelope, tgt = A.target, type = A.event_type, ch = A.channel,
  ct = A.channel_type, co = contact, route = A.target, queue = 'unassigned', auto = '1',
  blk = '0', ev = A.payload, tp = A.traceparent}
if action == 'queue' then
  local tid = redis.call('HGET', K.ticket, 'id')
  if not tid then
    tid = A.new_ticket
    redis.call('HSET', K.ticket, 'id', tid, 'channel', A.channel, 'contact', contact, 'first_at', A.now, 'count', 0)
    redis.call('SET', K.ticket_id, A.channel .. '\0' .. contact)
    redis.call('ZADD', K.tickets, A.now, tid)
    redis.call('ZADD', K.channel_tickets, A.now, tid)
  end
  -- A released message: where a release sends it, as things stand now
  -- (release_chunk sets it again from the release), and, alone of all
  -- entries, automation on and blocked. Complete, so that a replica of an
  -- earlier version, which moves such entries as they are, delivers it.
  e.tgt, e.route, e.queue, e.blk = A.release_target, A.release_target, A.release_queue, '1'
  e.conv = redis.call('HGET', K.conv, 'id') or ''
  local kept = redis.call('RPUSH', K.ticket_messages, packEntry(entryFields(e)))
  local dropped = math.min(kept - tonumber(A.ticket_max), 100)
  if dropped > 0 then
    redis.call('LTRIM', K.ticket_messages, dropped, -1)
    redis.call('HINCRBY', K.ticket, 'dropped', dropped)
    kept = kept - dropped
  else
    dropped = 0
  end
  redis.call('HSET', K.ticket, 'count', kept, 'last_at', A.now)
  return {'queued', '', tid, tostring(dropped)}
end
local conv = ''
local decision = 'forwarded'
if A.target == 'bot' then e.queue = 'bot' end
if action then
  decision = 'recorded'
  e.tgt, e.route, e.queue, e.auto, e.blk = 'helpdesk', 'helpdesk', 'unassigned', '0', '1'
  conv = redis.call('HGET', K.conv, 'id') or ''
elseif contact ~= '' then
  conv = redis.call('HGET', K.conv, 'id')
  if not conv or redis.call('HGET', K.conv, 'status') ~= 'open' then
    conv = A.new_conversation
    redis.call('DEL', K.conv, K.conv_messages)
    redis.call('HSET', K.conv, 'id', conv, 'channel', A.channel, 'contact', contact, 'status', 'open', 'started_at', A.now)
  end
end
if conv ~= '' then
  redis.call('RPUSH', K.conv_messages, '{"decision":"' .. decision .. '","message":' .. A.conv_payload .. '}')
  redis.call('LTRIM', K.conv_messages, -tonumber(A.conv_max), -1)
  redis.call('HSET', K.conv, 'last_at', A.now)
  redis.call('PEXPIRE', K.conv, A.conv_ttl_ms)
  redis.call('PEXPIRE', K.conv_messages, A.conv_ttl_ms)
end
e.conv = conv
enqueue(K.stream, K.release, K.release_messages, e)
return {decision, conv, '', '0'}
