-- Gives the shard's lease up if it is A.owner's.
if redis.call('GET', K.lease) == A.owner then redis.call('DEL', K.lease) end
return 0
