-- Takes the shard's lease when it is free or already A.owner's, and extends
-- it for A.ttl_ms. It returns 1 when A.owner holds it now, else 0.
local cur = redis.call('GET', K.lease)
if cur and cur ~= A.owner then return 0 end
redis.call('SET', K.lease, A.owner, 'PX', A.ttl_ms)
return 1
