-- A ticket release, in two parts (see blocklist/tickets/release.go): detach
-- starts it in the script that releases the ticket, and the tickets package's
-- release_chunk.lua moves its entries.

-- detach(r) starts the release of the open ticket: it renames the ticket's
-- message list r.ticket_messages to the contact's release list r.release_messages,
-- records where the messages go in the release hash r.release, adds the
-- contact to the releases index r.releases and removes the ticket r.ticket from
-- the indexes r.tickets and r.channel_tickets: the ticket is no longer open.
-- r also has tid, member, now, ch, ct, co, conv, target and queue. It returns
-- the messages released and the messages the ticket dropped. The contact
-- must have no release in progress; the caller appends the notices.
local function detach(r)
  local n = redis.call('LLEN', r.ticket_messages)
  local dropped = redis.call('HGET', r.ticket, 'dropped') or '0'
  if n > 0 then redis.call('RENAME', r.ticket_messages, r.release_messages) end
  redis.call('HSET', r.release, 'ticket', r.tid, 'n', n, 'ch', r.ch, 'ct', r.ct, 'co', r.co,
    'conv', r.conv, 'target', r.target, 'queue', r.queue)
  redis.call('ZADD', r.releases, r.now, r.member)
  redis.call('DEL', r.ticket)
  redis.call('ZREM', r.tickets, r.tid)
  redis.call('ZREM', r.channel_tickets, r.tid)
  return n, dropped
end

-- drop(r) deletes the open ticket r.ticket, its messages and its id key
-- r.ticket_id, off Redis's main thread, and removes it from the indexes. It
-- returns the messages deleted and the messages the ticket dropped.
local function drop(r)
  local n = redis.call('LLEN', r.ticket_messages)
  local dropped = redis.call('HGET', r.ticket, 'dropped') or '0'
  redis.call('UNLINK', r.ticket, r.ticket_messages, r.ticket_id)
  redis.call('ZREM', r.tickets, r.tid)
  redis.call('ZREM', r.channel_tickets, r.tid)
  return n, dropped
end
