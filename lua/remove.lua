--[[
remove.lua: remove a batch of ids from every bucket, through their reverse records; no scans.
KEYS[1], ARGV[1] (key base), ARGV[2] (fingerprint), ARGV[3] (view): as in common.lua
ARGV[4]   the batch's id type, "int" or "str"
ARGV[5]   bands
ARGV[6]   bytes per band value in a signature
then one pair per id: id, reverse page
Returns {removed, unknown, epoch, seq, damaged}: ids not in the index are counted, not errors;
epoch and seq are the caller's new view; damaged counts removed ids that some bucket their record
names did not hold (an evicted bucket, say).
Errors: "LSHRS_PARAMS", "LSHRS_LOST", "LSHRS_IDTYPE" (common.lua).
]]
local meta = KEYS[1]
local bands = tonumber(ARGV[5])
local width = tonumber(ARGV[6])

local _, refused = checked_meta(ARGV[4])
if refused then return refused end

local removed, unknown, damaged = 0, 0, 0
for i = 7, #ARGV, 2 do
  local id = ARGV[i]
  local reverse = reverse_key(ARGV[i + 1])
  local sig = redis.call('HGET', reverse, id)
  if sig then
    local values = band_values(sig, bands, width)
    local left = 0
    for k = 1, bands do left = left + redis.call('SREM', bucket_key(k, values[k]), id) end
    if left < bands then damaged = damaged + 1 end
    redis.call('HDEL', reverse, id)
    removed = removed + 1
  else
    unknown = unknown + 1
  end
end
if removed > 0 then redis.call('HINCRBY', meta, 'ids', -removed) end
local view = count_write()
return { removed, unknown, view[1], view[2], damaged }
