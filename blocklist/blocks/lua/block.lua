-- Blocks a contact, replacing any block it had: the block entry and its
-- index member, the end of the open conversation (status blocked), the
-- helpdesk's notices and the audit record, all or nothing. It returns
-- {'disabled', ''} when the feature is off, else {'ok', the conversation
-- the block ended or ''}.
local enabled = redis.call('HGET', K.settings, 'block_contact_enabled') or A.default_enabled
if enabled ~= '1' then return {'disabled', ''} end
blockContact(K.block, K.blocked, {channel = A.channel, contact = A.contact, note = A.note,
  action = A.action, actor = A.actor, now = A.now, expires = A.expires, member = A.member})
local conv, endedNow = endConversation(K.conv, 'blocked', A.now)
local ended = ''
if endedNow then ended = conv end
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
