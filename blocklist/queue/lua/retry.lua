-- Puts a parked delivery back on its shard's stream, the same entry again,
-- unless A.check says it is an automation delivery and its contact is
-- blocked now (with the feature on). It returns 'missing', 'blocked' or 'ok'.
if redis.call('HEXISTS', K.dead, A.id) == 0 then return 'missing' end
if A.check == '1' then
  local enabled = redis.call('HGET', K.settings, 'block_contact_enabled') or A.default_enabled
  if enabled == '1' and redis.call('EXISTS', K.block) == 1 then return 'blocked' end
end
xaddEntry(K.stream, {id = A.envelope, tgt = A.target, type = A.type, ch = A.channel,
  ct = A.channel_type, co = A.contact, conv = A.conv, route = A.route, queue = A.queue,
  auto = A.auto, blk = A.blocked, ev = A.payload, tp = A.traceparent})
redis.call('HDEL', K.dead, A.id)
redis.call('ZREM', K.dead_index, A.id)
audit(K.audit, {at = A.now, actor = A.actor, action = 'dead_letter.retry', channel = A.channel,
  contact = A.contact, detail = A.id})
return 'ok'
