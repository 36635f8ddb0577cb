--[[
insert.lua: upsert a batch of ids into their band buckets, all or nothing.
KEYS[1], ARGV[1] (key base), ARGV[2] (fingerprint), ARGV[3] (view): as in common.lua
ARGV[4]   the batch's id type, "int" or "str"
ARGV[5]   bands
ARGV[6]   bytes per band value in a signature
ARGV[7]   a new epoch: written when this call creates the meta (or finds one without an epoch)
ARGV[8]   n, the number of meta field/value pairs that follow (written when the index is new)
ARGV[9 .. 8+2n]  those pairs
ARGV[9+2n]  m, the number of meta field/value pairs that follow (written with this batch, e.g. a
            build's position, so the position moves exactly when the batch lands)
then those pairs, then one triple per id: id, reverse page, packed signature
An id already indexed leaves only the buckets its new signature no longer names.
Returns {added, moved, unchanged, created, epoch, seq}: created is 1 when this call created the
meta hash; epoch and seq are the caller's new view of the index.
Errors: "LSHRS_PARAMS", "LSHRS_LOST", "LSHRS_IDTYPE" (common.lua).
]]
local meta = KEYS[1]
local fingerprint = ARGV[2]
local id_type = ARGV[4]
local bands = tonumber(ARGV[5])
local width = tonumber(ARGV[6])
local n_meta = tonumber(ARGV[8])

local stored, refused = checked_meta(id_type)
if refused then return refused end
local created = 0
if not stored[1] then
  created = 1
  local fields = {}
  for i = 9, 8 + 2 * n_meta do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', meta, 'fingerprint', fingerprint, 'ids', 0, 'epoch', ARGV[7], unpack(fields))
elseif not stored[3] then
  redis.call('HSET', meta, 'epoch', ARGV[7])
end
if not stored[2] then redis.call('HSET', meta, 'idType', id_type) end

local n_set = tonumber(ARGV[9 + 2 * n_meta])
local first_item = 10 + 2 * n_meta + 2 * n_set
if n_set > 0 then
  local fields = {}
  for i = 10 + 2 * n_meta, first_item - 1 do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', meta, unpack(fields))
end

local added, moved, unchanged = 0, 0, 0
for i = first_item, #ARGV, 3 do
  local id, sig = ARGV[i], ARGV[i + 2]
  local reverse = reverse_key(ARGV[i + 1])
  local old = redis.call('HGET', reverse, id)
  if old == sig then
    unchanged = unchanged + 1
  else
    local new = band_values(sig, bands, width)
    if old then
      local prev = band_values(old, bands, width)
      for k = 1, bands do
        if prev[k] ~= new[k] then
          redis.call('SREM', bucket_key(k, prev[k]), id)
          redis.call('SADD', bucket_key(k, new[k]), id)
        end
      end
      moved = moved + 1
    else
      for k = 1, bands do redis.call('SADD', bucket_key(k, new[k]), id) end
      added = added + 1
    end
    redis.call('HSET', reverse, id, sig)
  end
end
if added > 0 then redis.call('HINCRBY', meta, 'ids', added) end
local view = count_write()
return { added, moved, unchanged, created, view[1], view[2] }
