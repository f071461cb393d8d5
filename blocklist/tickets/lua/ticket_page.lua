-- Reads a ticket and one page of its messages at once. Messages are
-- numbered from 1 in the order they came; the ticket drops the lowest
-- numbers first, so message number m is at list index m - dropped - 1.
-- Each message is answered as its envelope payload: a stored delivery entry
-- (packed) gives its ev; a message stored before that form is the payload.
-- It returns nil when the ticket is not open, else {the ticket's fields, the
-- first number read, the list's length, the messages}.
local t = redis.call('HGETALL', K.ticket)
local h = {}
for i = 1, #t, 2 do h[t[i]] = t[i + 1] end
if h['id'] ~= A.ticket then return false end
local dropped = tonumber(h['dropped'] or '0')
local from = math.max(tonumber(A.from), dropped + 1)
local start = from - dropped - 1
local msgs = redis.call('LRANGE', K.ticket_messages, start, start + tonumber(A.limit) - 1)
for i, m in ipairs(msgs) do
  if string.sub(m, 1, 1) == '[' then msgs[i] = entryOf(unpackEntry(m)).ev end
end
return {t, from, redis.call('LLEN', K.ticket_messages), msgs}
