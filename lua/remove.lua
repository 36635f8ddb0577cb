--[[
remove.lua: remove a batch of ids from every bucket, through their reverse records; no scans.
KEYS[1], ARGV[1] (key base), ARGV[2] (fingerprint): as in common.lua
ARGV[3]   the batch's id type, "int" or "str"
ARGV[4]   bands
ARGV[5]   bytes per band value in a signature
then one pair per id: id, reverse page
Returns {removed, unknown}: ids not in the index are counted, not errors.
Errors: "LSHRS_PARAMS <stored fingerprint>", "LSHRS_IDTYPE <stored id type>".
]]
local meta = KEYS[1]
local bands = tonumber(ARGV[4])
local width = tonumber(ARGV[5])

local _, refused = checked_meta(ARGV[3])
if refused then return refused end

local removed, unknown = 0, 0
for i = 6, #ARGV, 2 do
  local id = ARGV[i]
  local reverse = reverse_key(ARGV[i + 1])
  local sig = redis.call('HGET', reverse, id)
  if sig then
    local values = band_values(sig, bands, width)
    for k = 1, bands do redis.call('SREM', bucket_key(k, values[k]), id) end
    redis.call('HDEL', reverse, id)
    removed = removed + 1
  else
    unknown = unknown + 1
  end
end
if removed > 0 then redis.call('HINCRBY', meta, 'ids', -removed) end
return { removed, unknown }
