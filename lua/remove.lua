--[[
remove.lua: remove a batch of ids from every bucket, through their reverse records; no scans.
KEYS[1], ARGV[1] (key base), ARGV[2] (fingerprint), ARGV[3] (view): as in common.lua
ARGV[4]   the batch's id type, "int" or "str"
ARGV[5]   bands
ARGV[6]   bytes per band value in a signature (width)
ARGV[7]   bytes per sketch
ARGV[8]   the bucket cap, in records
ARGV[9]   reverse pages
then one pair per id: id, reverse page
Returns {removed, unknown, epoch, seq, damaged}: ids not in the index are counted, not errors;
epoch and seq are the caller's new view; damaged counts removed ids that some bucket their record
names did not hold (an evicted bucket, say).
Errors: "LSHRS_PARAMS", "LSHRS_LOST", "LSHRS_IDTYPE" (common.lua).
]]
local meta = KEYS[1]
local bands = tonumber(ARGV[5])
local width = tonumber(ARGV[6])
local size = 4 + tonumber(ARGV[7])
local cap = tonumber(ARGV[8])
local pages = tonumber(ARGV[9])

local _, refused = checked_meta(ARGV[4])
if refused then return refused end

local changes = new_changes()
local removed, unknown, damaged = 0, 0, 0
local sketch_at = 5 + bands * width
for i = 10, #ARGV, 2 do
  local id = ARGV[i]
  local reverse = reverse_key(ARGV[i + 1])
  local record = redis.call('HGET', reverse, id)
  if record then
    local ord4 = string.sub(record, 1, 4)
    local bytes = ord4 .. string.sub(record, sketch_at)
    local values = band_values(record, 5, bands, width)
    local counted = false
    local missing = function()
      if not counted then
        counted = true
        damaged = damaged + 1
      end
    end
    for k = 1, bands do
      local c = change_of(changes, k, values[k])
      c.remove[#c.remove + 1] = { bytes = bytes, missing = missing }
    end
    local ordinal = ordinal_of(ord4)
    if not is_direct(ARGV[4], ordinal) then redis.call('HDEL', ordinal_key(ordinal, pages), ordinal) end
    redis.call('HDEL', reverse, id)
    removed = removed + 1
  else
    unknown = unknown + 1
  end
end
apply_changes(changes, size, cap)
if removed > 0 then redis.call('HINCRBY', meta, 'ids', -removed) end
local view = count_write()
return { removed, unknown, view[1], view[2], damaged }
