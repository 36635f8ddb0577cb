--[[
remove.lua: remove a batch of ids from every bucket, through their reverse records; no scans.
KEYS[1]   the index's meta hash, <tag>:meta
ARGV[1]   the tag, e.g. "{lshrs}"
ARGV[2]   the caller's parameter fingerprint
ARGV[3]   the batch's id type, "int" or "str"
ARGV[4]   bands
ARGV[5]   bytes per band value in a signature
then one pair per id: id, reverse page
Returns {removed, unknown}: ids not in the index are counted, not errors.
Errors: "LSHRS_PARAMS <stored fingerprint>", "LSHRS_IDTYPE <stored id type>".
]]
local meta = KEYS[1]
local tag = ARGV[1]
local bands = tonumber(ARGV[4])
local width = tonumber(ARGV[5])

local stored = redis.call('HMGET', meta, 'fingerprint', 'idType')
local refused = params_error(stored[1], ARGV[2])
if refused then return refused end
-- 7 and "7" are different ids; a batch of the other type could only hit the wrong one.
if stored[2] and stored[2] ~= ARGV[3] then
  return redis.error_reply('LSHRS_IDTYPE ' .. stored[2])
end

local removed, unknown = 0, 0
for i = 6, #ARGV, 2 do
  local id = ARGV[i]
  local reverse = tag .. ':r:' .. ARGV[i + 1]
  local sig = redis.call('HGET', reverse, id)
  if sig then
    local values = band_values(sig, bands, width)
    for k = 1, bands do redis.call('SREM', bucket_key(tag, k, values[k]), id) end
    redis.call('HDEL', reverse, id)
    removed = removed + 1
  else
    unknown = unknown + 1
  end
end
if removed > 0 then redis.call('HINCRBY', meta, 'ids', -removed) end
return { removed, unknown }
