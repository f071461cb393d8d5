-- Moves the next entries of the contact's release to the delivery stream:
-- up to A.max entries, ending at the first past A.max_bytes bytes. The last
-- chunk removes the release hash, its index member and the ticket id key.
-- When the release is another ticket's than A.ticket by the time the script
-- runs (that one finished and the next began), it changes nothing. It
-- returns the entries left, 0 when the release is done now, -1 when there
-- is none in progress, -2 when it is not A.ticket's.
--
-- A released message is the delivery entry ingest stored in the ticket, the
-- only kind with automation on and blocked: the release sets where it goes,
-- as the release hash says. Entries appended to the release list while it
-- was in progress (notices, later messages) go as they are.
-- A message stored before entries were (a JSON object) goes with what
-- idType reads of it.
local r = redis.call('HMGET', K.release, 'ticket', 'ch', 'ct', 'co', 'conv', 'target', 'queue')
if not r[1] then return -1 end
if r[1] ~= A.ticket then return -2 end
local ch, ct, co, conv, target, queue = r[2], r[3], r[4], r[5], r[6], r[7]
local moved, bytes = 0, 0
local max, maxBytes = tonumber(A.max), tonumber(A.max_bytes)
while moved < max and bytes < maxBytes do
  local m = redis.call('LPOP', K.release_messages)
  if not m then break end
  moved, bytes = moved + 1, bytes + #m
  local e
  if string.sub(m, 1, 1) == '[' then
    e = entryOf(unpackEntry(m))
    if e.auto == '1' and e.blk == '1' then
      e.tgt, e.route, e.queue, e.conv = target, target, queue, conv
    end
  else
    local id, typ = idType(m)
    e = {id = id, tgt = target, type = typ, ch = ch, ct = ct, co = co, conv = conv,
      route = target, queue = queue, auto = '1', blk = '1', ev = m}
  end
  xaddEntry(K.stream, e)
end
local left = redis.call('LLEN', K.release_messages)
if left == 0 then
  redis.call('DEL', K.release, K.ticket_id)
  redis.call('ZREM', K.releases, A.member)
end
return left
