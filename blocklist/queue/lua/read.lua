-- Hands up to A.count of the shard's entries to the group, only while
-- A.owner holds the shard's lease (see queue.go). A.id is '>' for new
-- entries, '0' for pending ones. It returns -1 when A.owner does not hold
-- the lease; else XREADGROUP's reply when there is one; else the id of the
-- stream's last entry ('0-0' when it is empty).
if redis.call('GET', K.lease) ~= A.owner then return -1 end
local r = redis.call('XREADGROUP', 'GROUP', A.group, A.consumer, 'COUNT', A.count,
  'STREAMS', K.stream, A.id)
if r then return r end
local last = redis.call('XREVRANGE', K.stream, '+', '-', 'COUNT', 1)
if #last == 0 then return '0-0' end
return last[1][1]
