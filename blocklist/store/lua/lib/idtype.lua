-- idType(m) reads the id and type of a ticket message stored before ticket
-- messages were delivery entries: {"id":"evt_...","type":"...",...}. Only
-- the type's JSON string is decoded, never the whole message: its raw event,
-- the platform's, may be one Redis's cjson refuses (nested over 1000 deep, a
-- lone surrogate escape), and an entry must never make a chunk fail, or the
-- release never ends and every later delivery of the contact waits behind
-- it. A message not in that form goes all the same, with what can be read.
local function idType(m)
  local id, typ = string.match(m, '^{"id":"([^"\\]*)","type":"([^"\\]*)"')
  if id then return id, typ end
  local at
  id, at = string.match(m, '^{"id":"([^"\\]*)","type":()"')
  if id then
    local i = at + 1
    while i <= #m do
      local c = string.byte(m, i)
      if c == 34 then
        local ok, v = pcall(cjson.decode, string.sub(m, at, i))
        if ok and type(v) == 'string' then return id, v end
        break
      end
      if c == 92 then i = i + 2 else i = i + 1 end
    end
  end
  local ok, p = pcall(cjson.decode, m)
  if ok and type(p) == 'table' then
    if type(p['id']) == 'string' then id = p['id'] end
    if type(p['type']) == 'string' then typ = p['type'] end
  end
  return id or '', typ or ''
end
