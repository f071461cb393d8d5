-- audit(key, r) appends the audit record r to the bucket's audit stream key,
-- which keeps about AUDIT_MAXLEN records: at (ms), actor, action, channel,
-- contact, ticket and detail. blocklist/blocks/audit.go reads what it writes.
local function audit(key, r)
  redis.call('XADD', key, 'MAXLEN', '~', AUDIT_MAXLEN, '*', 'at', r.at, 'actor', r.actor,
    'action', r.action, 'channel', r.channel, 'contact', r.contact, 'ticket', r.ticket or '',
    'detail', r.detail or '')
end
