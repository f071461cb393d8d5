-- Moves the entry A.stream_id from the shard's stream to its dead letters,
-- as A.dead_letter with the record A.record, if A.owner still holds the
-- lease. It returns -1 when it does not, else 1.
if redis.call('GET', K.lease) ~= A.owner then return -1 end
redis.call('HSET', K.dead, A.dead_letter, A.record)
redis.call('ZADD', K.dead_index, A.now, A.dead_letter)
redis.call('XACK', K.stream, A.group, A.stream_id)
redis.call('XDEL', K.stream, A.stream_id)
return 1
