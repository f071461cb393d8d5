-- Sets block_contact_enabled in the bucket's settings and, in the bucket
-- that keeps it (A.audit_it), appends the audit record of the change.
redis.call('HSET', K.settings, 'block_contact_enabled', A.enabled)
if A.audit_it == '1' then
  audit(K.audit, {at = A.now, actor = A.actor, action = 'settings.update', channel = '',
    contact = '', detail = A.detail})
end
return 'ok'
