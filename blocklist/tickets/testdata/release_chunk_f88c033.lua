-- The release chunk script of hookwall f88c033 (before ticket messages were
-- stored as delivery entries), as a replica of that version runs it during a
-- rolling upgrade. KEYS: release, release list, stream, releases index,
-- ticket id key; ARGV: max entries, index member, ticket id, max bytes.
local function packEntry(f)
  local parts = {}
  for i, v in ipairs(f) do parts[i] = #v .. ':' .. v end
  return '[' .. table.concat(parts)
end
local function unpackEntry(s)
  local f, i = {}, 2
  while i <= #s do
    local c = string.find(s, ':', i, true)
    local n = tonumber(string.sub(s, i, c - 1))
    f[#f + 1] = string.sub(s, c + 1, c + n)
    i = c + n + 1
  end
  return f
end
local function emit(kq, krel, krl, f)
  if redis.call('EXISTS', krel) == 1 then
    redis.call('RPUSH', krl, packEntry(f))
  else
    redis.call('XADD', kq, '*', unpack(f))
  end
end
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
local r = redis.call('HMGET', KEYS[1], 'ticket', 'ch', 'ct', 'co', 'conv', 'target', 'queue')
if not r[1] then return -1 end
if r[1] ~= ARGV[3] then return -2 end
local ch, ct, co, conv, target, queue = r[2], r[3], r[4], r[5], r[6], r[7]
local moved, bytes = 0, 0
local max, maxBytes = tonumber(ARGV[1]), tonumber(ARGV[4])
while moved < max and bytes < maxBytes do
  local m = redis.call('LPOP', KEYS[2])
  if not m then break end
  moved, bytes = moved + 1, bytes + #m
  if string.sub(m, 1, 1) == '[' then
    redis.call('XADD', KEYS[3], '*', unpack(unpackEntry(m)))
  else
    local id, typ = idType(m)
    redis.call('XADD', KEYS[3], '*', 'id', id, 'tgt', target, 'type', typ, 'ch', ch,
      'ct', ct, 'co', co, 'conv', conv, 'route', target, 'queue', queue, 'auto', '1', 'blk', '1', 'ev', m)
  end
end
local left = redis.call('LLEN', KEYS[2])
if left == 0 then
  redis.call('DEL', KEYS[1], KEYS[5])
  redis.call('ZREM', KEYS[4], ARGV[2])
end
return left
