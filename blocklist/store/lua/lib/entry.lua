-- The delivery stream entry: the one codec of every script that writes a
-- contact's deliveries. entry.go reads what these write.
--
-- entryFields(e) is the stream entry of the table e, whose members are the
-- entry's fields: id (envelope id), tgt (bot or helpdesk), type, ch
-- (channel), ct (channel type), co (contact), conv (conversation), route,
-- queue, auto and blk ('1' or '0'), ev (the envelope payload) and tp (the
-- W3C traceparent). conv and tp may be absent: they are written empty.
local function entryFields(e)
  return {'id', e.id, 'tgt', e.tgt, 'type', e.type, 'ch', e.ch, 'ct', e.ct, 'co', e.co,
    'conv', e.conv or '', 'route', e.route, 'queue', e.queue, 'auto', e.auto, 'blk', e.blk,
    'ev', e.ev, 'tp', e.tp or ''}
end

-- packEntry(f) and unpackEntry(s) keep a field list in a list (a ticket, a
-- release): "[" then each value as <length>:<bytes>, which keeps any bytes
-- as they are. (Ticket messages stored before this form are JSON objects:
-- they start with "{".)
local function packEntry(f)
  local parts = {}
  for i, v in ipairs(f) do parts[i] = #v .. ':' .. v end
  return '[' .. table.concat(parts)
end
local function unpackEntry(s)
  local f, i = {}, 2
  while i <= #s do
    local c = string.find(s, ':', i, true)
    local n = tonumber(string.sub(s, i, c - 1))
    f[#f + 1] = string.sub(s, c + 1, c + n)
    i = c + n + 1
  end
  return f
end

-- xaddEntry(kq, e) adds the entry of e to the delivery stream kq.
local function xaddEntry(kq, e)
  redis.call('XADD', kq, '*', unpack(entryFields(e)))
end

-- enqueue(kq, krel, krl, e) adds the entry of e to the delivery stream kq,
-- or, while the contact has a ticket release in progress (the hash krel
-- exists), to the end of the release list krl, so that it follows what the
-- release has still to move.
local function enqueue(kq, krel, krl, e)
  if redis.call('EXISTS', krel) == 1 then
    redis.call('RPUSH', krl, packEntry(entryFields(e)))
  else
    xaddEntry(kq, e)
  end
end

-- notice(kq, krel, krl, n) enqueues a lifecycle notice for the helpdesk
-- (conversation.ended, contact.blocked, ticket.released, ...): n has id,
-- type, ch, ct, co, conv, blk and ev.
local function notice(kq, krel, krl, n)
  enqueue(kq, krel, krl, {id = n.id, tgt = 'helpdesk', type = n.type, ch = n.ch, ct = n.ct,
    co = n.co, conv = n.conv, route = 'helpdesk', queue = 'unassigned', auto = '0', blk = n.blk,
    ev = n.ev})
end

-- entryOf(f) is the table of the field list f (the inverse of entryFields).
local function entryOf(f)
  local e = {}
  for i = 1, #f - 1, 2 do e[f[i]] = f[i + 1] end
  return e
end
