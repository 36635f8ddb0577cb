--[[
common.lua: prepended to every lshrs script when it is registered.

Key schema (every key a script call touches shares one hash tag, so it touches one slot). The tag
is "{prefix}" for an index of one shard, and "{prefix#k.salt}" for shard k of a sharded one:
  <tag>:meta              hash: the index's parameters, its id type and id count
  <tag>:b:<band>:<value>  set: ids whose signature has <value> in band <band> (0-based)
  <tag>:r:<page>          hash: id -> its signature, one big-endian value per band (the reverse record)
]]

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

local function bucket_key(tag, band, value)
  return tag .. ':b:' .. (band - 1) .. ':' .. value
end

-- Refuses a caller whose parameters differ from the ones the index was created with.
local function params_error(stored, fingerprint)
  if stored and stored ~= fingerprint then
    return redis.error_reply('LSHRS_PARAMS ' .. stored)
  end
  return nil
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
