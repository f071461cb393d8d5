-- What a block does to a contact, for the scripts that block.

-- blockContact(kblock, kblocked, b) stores the block entry b (channel,
-- contact, note, action, actor, now, expires: ms or '' for never) in the
-- hash kblock, replacing any, with its expiry, and adds b.member to the
-- blocked-contacts index kblocked.
local function blockContact(kblock, kblocked, b)
  redis.call('DEL', kblock)
  redis.call('HSET', kblock, 'channel', b.channel, 'contact', b.contact, 'note', b.note,
    'action', b.action, 'blocked_by', b.actor, 'blocked_at', b.now, 'expires_at', b.expires)
  if b.expires ~= '' then redis.call('PEXPIREAT', kblock, b.expires) end
  redis.call('ZADD', kblocked, 0, b.member)
end

-- endConversation(kconv, status, now) ends the contact's latest
-- conversation kconv with status when it is open. It returns the
-- conversation's id ('' for none) and whether it ended it now.
local function endConversation(kconv, status, now)
  local conv = redis.call('HGET', kconv, 'id') or ''
  if redis.call('HGET', kconv, 'status') ~= 'open' then return conv, false end
  redis.call('HSET', kconv, 'status', status, 'ended_at', now)
  return conv, true
end
