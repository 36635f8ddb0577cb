--[[
common.lua: prepended to every lshrs script when it is registered.

The contract every script shares:
  KEYS[1]  the index's meta hash, <base>:meta
  ARGV[1]  the key base: the client's key prefix and the hash tag, e.g. "{lshrs}" or
           "app:{lshrs}"; every key a script builds itself starts with it (same slot, and under
           the prefix of an ioredis client with `keyPrefix`, which prefixes KEYS itself)
  ARGV[2]  the caller's parameter fingerprint
  ARGV[3..]  the script's own arguments
Error replies: "LSHRS_PARAMS <stored fingerprint>", "LSHRS_IDTYPE <stored id type>" (the table
from replies to error codes is src/errors.ts).

Key schema (every key a script call touches shares one hash tag, so it touches one slot). The tag
is "{prefix}" for an index of one shard, and "{prefix#k.salt}" for shard k of a sharded one:
  <base>:meta              hash: the index's parameters, its id type and id count
  <base>:b:<band>:<value>  set: ids whose signature has <value> in band <band> (0-based)
  <base>:r:<page>          hash: id -> its signature, one big-endian value per band (the reverse record)
]]

local base = ARGV[1]

-- The meta check every script starts with: refuses a caller whose parameters differ from the ones
-- the index was created with and, given an id type, a batch of the other id type (7 and "7" are
-- different ids: a batch of the other type could only hit the wrong one). Returns the stored
-- {fingerprint, idType}, or nil and the error reply.
local function checked_meta(id_type)
  local stored = redis.call('HMGET', KEYS[1], 'fingerprint', 'idType')
  if stored[1] and stored[1] ~= ARGV[2] then
    return nil, redis.error_reply('LSHRS_PARAMS ' .. stored[1])
  end
  if id_type and stored[2] and stored[2] ~= id_type then
    return nil, redis.error_reply('LSHRS_IDTYPE ' .. stored[2])
  end
  return stored
end

-- Band values of a packed signature: `width` big-endian bytes per band.
local function band_values(sig, bands, width)
  local bytes = { string.byte(sig, 1, -1) }
  if width == 1 then return bytes end
  local values = {}
  for k = 1, bands do
    local v = 0
    for j = (k - 1) * width + 1, k * width do v = v * 256 + bytes[j] end
    values[k] = v
  end
  return values
end

local function bucket_key(band, value)
  return base .. ':b:' .. (band - 1) .. ':' .. value
end

local function reverse_key(page)
  return base .. ':r:' .. page
end

-- The reverse page of an id, as the client computes it (src/ids.ts pageOf): integer ids by value
-- (math.fmod is exact on doubles), string ids by FNV-1a over their bytes.
local function page_of(id, id_type, pages)
  if id_type == 'int' then return math.fmod(tonumber(id), pages) end
  local h = 2166136261
  for i = 1, #id do
    h = bit.bxor(h, string.byte(id, i))
    -- h * 16777619 mod 2^32 = (h << 24) + h * 403: both parts exact in a double, tobit wraps.
    h = bit.tobit(bit.lshift(h, 24) + h * 403)
  end
  if h < 0 then h = h + 4294967296 end
  return math.fmod(h, pages)
end
