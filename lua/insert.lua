--[[
insert.lua: upsert a batch of ids into their buckets, all or nothing.
KEYS[1], ARGV[1] (key base), ARGV[2] (fingerprint), ARGV[3] (view): as in common.lua
ARGV[4]   the batch's id type, "int" or "str"
ARGV[5]   bands
ARGV[6]   bytes per band value in a signature (width)
ARGV[7]   bytes per sketch
ARGV[8]   the bucket cap, in records
ARGV[9]   reverse pages (the ordinal -> id hashes are spread over as many)
ARGV[10]  a new epoch: written when this call creates the meta (or finds one without an epoch)
ARGV[11]  n, the number of meta field/value pairs that follow (written when the index is new)
ARGV[12 .. 11+2n]  those pairs
ARGV[12+2n]  m, the number of meta field/value pairs that follow (written with this batch, e.g. a
             build's position, so the position moves exactly when the batch lands)
then those pairs, then one triple per id (each id at most once): id, reverse page, signature (band
values, `width` bytes each, then the sketch)
A new id takes its ordinal: an integer id below 2^31 is its own, any other the next of the meta's
count (common.lua, direct_ordinal); an id already indexed keeps its ordinal, and its records move
only where its band values or sketch changed.
Returns {added, moved, unchanged, created, epoch, seq}: created is 1 when this call created the
meta hash; epoch and seq are the caller's new view of the index.
Errors: "LSHRS_PARAMS", "LSHRS_LOST", "LSHRS_IDTYPE" (common.lua).
]]
local meta = KEYS[1]
local fingerprint = ARGV[2]
local id_type = ARGV[4]
local bands = tonumber(ARGV[5])
local width = tonumber(ARGV[6])
local size = 4 + tonumber(ARGV[7])
local cap = tonumber(ARGV[8])
local pages = tonumber(ARGV[9])
local n_meta = tonumber(ARGV[11])

local stored, refused = checked_meta(id_type)
if refused then return refused end
local created = 0
local epoch = stored[3]
if not stored[1] then
  created = 1
  epoch = ARGV[10]
  local fields = {}
  for i = 12, 11 + 2 * n_meta do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', meta, 'fingerprint', fingerprint, 'ids', 0, 'ordinals', 0, 'epoch', epoch, unpack(fields))
elseif not epoch then
  epoch = ARGV[10]
  redis.call('HSET', meta, 'epoch', epoch)
end
if not stored[2] then redis.call('HSET', meta, 'idType', id_type) end
if created == 1 or not stored[2] or not stored[3] then write_ident(fingerprint, epoch, id_type) end

local n_set = tonumber(ARGV[12 + 2 * n_meta])
local first_item = 13 + 2 * n_meta + 2 * n_set
if n_set > 0 then
  local fields = {}
  for i = 13 + 2 * n_meta, first_item - 1 do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', meta, unpack(fields))
end

local next_ordinal = tonumber(redis.call('HGET', meta, 'ordinals') or '0')
local first_ordinal = next_ordinal
local changes = new_changes()
local ignore = function() end
local added, moved, unchanged = 0, 0, 0
local sketch_at = bands * width + 1
for i = first_item, #ARGV, 3 do
  local id, sig = ARGV[i], ARGV[i + 2]
  local reverse = reverse_key(ARGV[i + 1])
  local old = redis.call('HGET', reverse, id)
  if old and string.sub(old, 5) == sig then
    unchanged = unchanged + 1
  else
    local ord4
    local new = band_values(sig, 1, bands, width)
    local sketch = string.sub(sig, sketch_at)
    if old then
      ord4 = string.sub(old, 1, 4)
      local prev = band_values(old, 5, bands, width)
      local old_record = ord4 .. string.sub(old, 4 + sketch_at)
      local same_sketch = old_record == ord4 .. sketch
      for k = 1, bands do
        if prev[k] ~= new[k] or not same_sketch then
          local c = change_of(changes, k, prev[k])
          c.remove[#c.remove + 1] = { bytes = old_record, missing = ignore }
          local d = change_of(changes, k, new[k])
          d.add[#d.add + 1] = ord4 .. sketch
        end
      end
      moved = moved + 1
    else
      local direct = direct_ordinal(id_type, id)
      if direct then
        ord4 = ordinal_bytes(direct)
      else
        if id_type == 'int' and next_ordinal < DIRECT_LIMIT then next_ordinal = DIRECT_LIMIT end
        ord4 = ordinal_bytes(next_ordinal)
        redis.call('HSET', ordinal_key(next_ordinal, pages), next_ordinal, id)
        next_ordinal = next_ordinal + 1
      end
      added = added + 1
      for k = 1, bands do
        local c = change_of(changes, k, new[k])
        c.add[#c.add + 1] = ord4 .. sketch
      end
    end
    redis.call('HSET', reverse, id, ord4 .. sig)
  end
end
apply_changes(changes, size, cap)
if added > 0 then redis.call('HINCRBY', meta, 'ids', added) end
if next_ordinal > first_ordinal then redis.call('HSET', meta, 'ordinals', next_ordinal) end
local view = count_write()
return { added, moved, unchanged, created, view[1], view[2] }
