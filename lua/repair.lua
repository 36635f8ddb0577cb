--[[
repair.lua: mend what a verify found, idempotently; each call is atomic.
KEYS[1], ARGV[1] (key base), ARGV[2] (fingerprint), ARGV[3] (view): as in common.lua
ARGV[4]   bands
ARGV[5]   bytes per band value in a signature
ARGV[6]   reverse pages to recount the ids over (0: leave the count alone)
ARGV[7]   n, the number of (id, page) pairs that follow: ids put back into every bucket their
          reverse record names
then (band, value, id, page) quadruples: a bucket member removed unless its reverse record names
that bucket (re-checked here, so a write since the verify is never undone)
Returns {memberships added, members removed, ids counted (-1 when not recounted), epoch, seq}.
Errors: "LSHRS_PARAMS", "LSHRS_LOST" (common.lua).
]]
local meta = KEYS[1]
local bands = tonumber(ARGV[4])
local width = tonumber(ARGV[5])
local pages = tonumber(ARGV[6])
local n_rejoin = tonumber(ARGV[7])

local _, refused = checked_meta(nil)
if refused then return refused end

local added = 0
local last_rejoin = 7 + 2 * n_rejoin
for i = 8, last_rejoin, 2 do
  local id = ARGV[i]
  local sig = redis.call('HGET', reverse_key(ARGV[i + 1]), id)
  if sig then
    local values = band_values(sig, bands, width)
    for k = 1, bands do added = added + redis.call('SADD', bucket_key(k, values[k]), id) end
  end
end

local removed = 0
for i = last_rejoin + 1, #ARGV, 4 do
  local band, value, id = tonumber(ARGV[i]) + 1, tonumber(ARGV[i + 1]), ARGV[i + 2]
  local sig = redis.call('HGET', reverse_key(ARGV[i + 3]), id)
  if not sig or band_values(sig, bands, width)[band] ~= value then
    removed = removed + redis.call('SREM', bucket_key(band, value), id)
  end
end

local counted = -1
if pages > 0 and redis.call('EXISTS', meta) == 1 then
  counted = 0
  for page = 0, pages - 1 do counted = counted + redis.call('HLEN', reverse_key(page)) end
  redis.call('HSET', meta, 'ids', counted)
end
local view = count_write()
return { added, removed, counted, view[1], view[2] }
