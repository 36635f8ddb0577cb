--[[
repair.lua: mend what a verify found, idempotently; each call is atomic.
KEYS[1], ARGV[1] (key base), ARGV[2] (fingerprint), ARGV[3] (view): as in common.lua
ARGV[4]   bands
ARGV[5]   bytes per band value in a signature (width)
ARGV[6]   bytes per sketch
ARGV[7]   the bucket cap, in records
ARGV[8]   reverse pages
ARGV[9]   1 to recount the ids over the reverse pages, 0 to leave the count alone
ARGV[10]  n, the number of (id, page) pairs that follow: ids put back into every bucket their
          reverse record names, where that bucket (and its overflow) lacks their record
then (band, value, record) triples: a bucket record removed unless the reverse record of its
ordinal's id names that bucket and that record (re-checked here, so a write since the verify is
never undone)
Returns {records added, records removed, ids counted (-1 when not recounted), epoch, seq}.
Errors: "LSHRS_PARAMS", "LSHRS_LOST" (common.lua).
]]
local meta = KEYS[1]
local bands = tonumber(ARGV[4])
local width = tonumber(ARGV[5])
local size = 4 + tonumber(ARGV[6])
local cap = tonumber(ARGV[7])
local pages = tonumber(ARGV[8])
local recount = ARGV[9] == '1'
local n_rejoin = tonumber(ARGV[10])
local sketch_at = 5 + bands * width

local stored, refused = checked_meta(nil)
if refused then return refused end

-- A record is in its bucket when the bucket string holds its ordinal at a record boundary, or its
-- overflow list holds it whole.
local function holds(band, value, record)
  local s = redis.call('GET', bucket_key(band, value)) or ''
  if find_record(s, record, size) then return true end
  return redis.call('LPOS', overflow_key(band, value), record) ~= false
end

local changes = new_changes()
local added = 0
local last_rejoin = 10 + 2 * n_rejoin
for i = 11, last_rejoin, 2 do
  local id = ARGV[i]
  local reverse = redis.call('HGET', reverse_key(ARGV[i + 1]), id)
  if reverse then
    local record = string.sub(reverse, 1, 4) .. string.sub(reverse, sketch_at)
    local values = band_values(reverse, 5, bands, width)
    for k = 1, bands do
      if not holds(k, values[k], record) then
        local c = change_of(changes, k, values[k])
        c.add[#c.add + 1] = record
        added = added + 1
      end
    end
  end
end

local removed = 0
-- A stray record already gone by the time this call runs is not counted as removed.
local counted_removal = function() removed = removed - 1 end
for i = last_rejoin + 1, #ARGV, 3 do
  local band, value, record = tonumber(ARGV[i]) + 1, tonumber(ARGV[i + 1]), ARGV[i + 2]
  local ordinal = ordinal_of(record)
  local id = id_of_ordinal(stored[2], ordinal, pages)
  local keep = false
  if id then
    local reverse = redis.call('HGET', reverse_key(page_of(id, stored[2], pages)), id)
    keep = reverse ~= nil and reverse ~= false and band_values(reverse, 5, bands, width)[band] == value
      and string.sub(reverse, 1, 4) .. string.sub(reverse, sketch_at) == record
  end
  if not keep then
    local c = change_of(changes, band, value)
    c.remove[#c.remove + 1] = { bytes = record, missing = counted_removal }
    removed = removed + 1
  end
end
apply_changes(changes, size, cap)

local counted = -1
if recount and redis.call('EXISTS', meta) == 1 then
  counted = 0
  for page = 0, pages - 1 do counted = counted + redis.call('HLEN', reverse_key(page)) end
  redis.call('HSET', meta, 'ids', counted)
end
local view = count_write()
return { added, removed, counted, view[1], view[2] }
