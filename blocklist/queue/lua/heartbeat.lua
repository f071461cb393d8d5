-- Registers A.owner as a live replica for A.ttl_ms, scored on Redis's clock
-- so that replicas whose clocks disagree do not expire each other, drops the
-- lapsed ones and returns how many are live.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', K.replicas, now + tonumber(A.ttl_ms), A.owner)
redis.call('ZREMRANGEBYSCORE', K.replicas, '-inf', now)
return redis.call('ZCARD', K.replicas)
