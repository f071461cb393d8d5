-- Removes A.member from the blocked-contacts index if its block entry is
-- gone (expired), so that a concurrent re-block is kept.
if redis.call('EXISTS', K.block) == 0 then redis.call('ZREM', K.blocked, A.member) end
return 0
