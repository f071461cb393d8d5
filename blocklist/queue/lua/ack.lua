-- Acknowledges and removes the delivered entries A.ids, but only while
-- A.owner holds the shard's lease. It returns -1 when it does not, else the
-- entries removed.
if redis.call('GET', K.lease) ~= A.owner then return -1 end
redis.call('XACK', K.stream, A.group, unpack(A.ids))
return redis.call('XDEL', K.stream, unpack(A.ids))
