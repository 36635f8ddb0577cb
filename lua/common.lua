--[[
common.lua: prepended to every lshrs script when it is registered.

The contract every script shares:
  KEYS[1]  the index's meta hash, <base>:meta
  ARGV[1]  the key base: the client's key prefix and the hash tag, e.g. "{lshrs}" or
           "app:{lshrs}"; every key a script builds itself starts with it (same slot, and under
           the prefix of an ioredis client with `keyPrefix`, which prefixes KEYS itself)
  ARGV[2]  the caller's parameter fingerprint
  ARGV[3]  the caller's view of the index, "<epoch>:<seq>", or "" when it has seen none: the index
           must still carry that epoch (a random token written when its meta is created, so a meta
           lost to a restart, an eviction or a clear and created anew has another) and a sequence
           at least seq (every write call counts one, so a restored snapshot or a lagging replica
           is behind a build that wrote more); seq 0 checks the epoch only
  ARGV[4..]  the script's own arguments
Error replies: "LSHRS_PARAMS <stored fingerprint>", "LSHRS_IDTYPE <stored id type>", "LSHRS_LOST
<stored epoch>:<stored seq>" (the table from replies to error codes is src/errors.ts).

Key schema (every key a script call touches shares one hash tag, so it touches one slot). The tag
is "{prefix}" for an index of one shard, and "{prefix#k.salt}" for shard k of a sharded one:
  <base>:meta              hash: the index's parameters, its id type and id count, epoch and seq
  <base>:b:<band>:<value>  set: ids whose signature has <value> in band <band> (0-based)
  <base>:r:<page>          hash: id -> its signature, one big-endian value per band (the reverse record)
]]

local base = ARGV[1]

-- The meta check every script starts with: refuses a caller whose parameters differ from the ones
-- the index was created with, a caller whose view of the index (ARGV[3]) it no longer matches,
-- and, given an id type, a batch of the other id type (7 and "7" are different ids: a batch of the
-- other type could only hit the wrong one). Returns the stored {fingerprint, idType, epoch, seq},
-- or nil and the error reply.
local function checked_meta(id_type)
  local stored = redis.call('HMGET', KEYS[1], 'fingerprint', 'idType', 'epoch', 'seq')
  if stored[1] and stored[1] ~= ARGV[2] then
    return nil, redis.error_reply('LSHRS_PARAMS ' .. stored[1])
  end
  if ARGV[3] ~= '' then
    local epoch, seq = string.match(ARGV[3], '^(.*):(%d+)$')
    if stored[3] ~= epoch or (tonumber(stored[4]) or 0) < tonumber(seq) then
      return nil, redis.error_reply('LSHRS_LOST ' .. (stored[3] or '') .. ':' .. (stored[4] or '0'))
    end
  end
  if id_type and stored[2] and stored[2] ~= id_type then
    return nil, redis.error_reply('LSHRS_IDTYPE ' .. stored[2])
  end
  return stored
end

-- A write call counts one in the meta's sequence (when the meta exists); returns the caller's new
-- view, {epoch, seq} ({"", 0} without a meta).
local function count_write()
  if redis.call('EXISTS', KEYS[1]) == 0 then return { '', 0 } end
  local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  return { redis.call('HGET', KEYS[1], 'epoch') or '', seq }
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
