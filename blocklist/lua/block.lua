-- Blocks a contact, replacing any block it had: the block entry and its
-- index member, the end of the open conversation (status blocked), the
-- helpdesk's notices and the audit record, all or nothing. It returns
-- {'disabled', ''} when the feature is off, else {'ok', the conversation
-- the block ended or ''}.
local enabled = redis.call('HGET', K.settings, 'block_contact_enabled') or A.default_enabled
if enabled ~= '1' then return {'disabled', ''} end
redis.call('DEL', K.block)
redis.call('HSET', K.block, 'channel', A.channel, 'contact', A.contact, 'note', A.note,
  'action', A.action, 'blocked_by', A.actor, 'blocked_at', A.now, 'expires_at', A.expires)
if A.expires ~= '' then redis.call('PEXPIREAT', K.block, A.expires) end
redis.call('ZADD', K.blocked, 0, A.member)
local conv = redis.call('HGET', K.conv, 'id') or ''
local ended = ''
if redis.call('HGET', K.conv, 'status') == 'open' then
  redis.call('HSET', K.conv, 'status', 'blocked', 'ended_at', A.now)
  ended = conv
end
local n = {ch = A.channel, ct = A.channel_type, co = A.contact, conv = conv, blk = '1'}
if ended ~= '' then
  n.id, n.type, n.ev = A.ended_id, 'conversation.ended', A.ended_payload
  notice(K.stream, K.release, K.release_messages, n)
end
n.id, n.type, n.ev = A.blocked_id, 'contact.blocked', A.blocked_payload
notice(K.stream, K.release, K.release_messages, n)
audit(K.audit, {at = A.now, actor = A.actor, action = 'block', channel = A.channel,
  contact = A.contact, detail = A.detail})
return {'ok', ended}
