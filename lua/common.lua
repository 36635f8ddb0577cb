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
  <base>:meta              hash: the index's parameters, its id type, id count, next ordinal, epoch, seq
  <base>:ident             string: "<fingerprint>\n<epoch>\n<id type>", the meta's identity, read
                           by a query's MGET before its buckets, in the same atomic command
  <base>:b:<band>:<value>  string: packed records of the ids whose bucket value in band <band> is
                           <value>; a record is a 4-byte big-endian ordinal and the id's sketch;
                           at most `cap` records (the bucket cap)
  <base>:x:<band>:<value>  list: the records of a full bucket past its cap (its overflow); queries
                           never read it
  <base>:r:<page>          hash: id -> reverse record: ordinal (4 bytes), band values (`width`
                           big-endian bytes per band), sketch
  <base>:o:<page>          hash: ordinal -> id (page = ordinal mod pages)
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

-- Band values of packed signature bytes: `width` big-endian bytes per band, from byte `first`.
local function band_values(sig, first, bands, width)
  local bytes = { string.byte(sig, first, first + bands * width - 1) }
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

local function overflow_key(band, value)
  return base .. ':x:' .. (band - 1) .. ':' .. value
end

local function reverse_key(page)
  return base .. ':r:' .. page
end

local function ordinal_key(ordinal, pages)
  return base .. ':o:' .. math.fmod(ordinal, pages)
end

-- An integer id below 2^31 is its own ordinal: its records carry the id itself, and it has no
-- ordinal -> id entry. Every other id takes a counted ordinal with an entry: from 0 in a string
-- index, from 2^31 in an integer one, so that the two kinds never meet.
local DIRECT_LIMIT = 2147483648

local function direct_ordinal(id_type, id)
  if id_type ~= 'int' then return nil end
  local n = tonumber(id)
  if n and n < DIRECT_LIMIT then return n end
  return nil
end

local function is_direct(id_type, ordinal)
  return id_type == 'int' and ordinal < DIRECT_LIMIT
end

-- The id of an ordinal: itself when direct, else its entry (false when it has none).
local function id_of_ordinal(id_type, ordinal, pages)
  if is_direct(id_type, ordinal) then return tostring(ordinal) end
  return redis.call('HGET', ordinal_key(ordinal, pages), ordinal)
end

local function ordinal_bytes(ordinal)
  local b4 = ordinal % 256
  local b3 = math.floor(ordinal / 256) % 256
  local b2 = math.floor(ordinal / 65536) % 256
  local b1 = math.floor(ordinal / 16777216) % 256
  return string.char(b1, b2, b3, b4)
end

local function ordinal_of(bytes)
  local b1, b2, b3, b4 = string.byte(bytes, 1, 4)
  return ((b1 * 256 + b2) * 256 + b3) * 256 + b4
end

-- Writes the identity string a query's MGET checks (see the key schema).
local function write_ident(fingerprint, epoch, id_type)
  redis.call('SET', base .. ':ident', fingerprint .. '\n' .. epoch .. '\n' .. (id_type or ''))
end

-- The position (1-based) of a whole record in a bucket string, or nil: only matches at record
-- boundaries count (the same bytes may straddle two records), and a stale record of the same
-- ordinal with another sketch is not this one.
local function find_record(s, record, size)
  local init = 1
  while true do
    local p = string.find(s, record, init, true)
    if not p then return nil end
    if (p - 1) % size == 0 then return p end
    init = p + 1
  end
end

-- The bucket changes of one call, grouped per bucket so each bucket string is read and written at
-- most once per call (a build's batch writes each bucket in one exact-size SET, not APPEND, which
-- over-allocates small strings).
local function new_changes()
  return { list = {}, by_key = {} }
end

local function change_of(changes, band, value)
  local key = bucket_key(band, value)
  local c = changes.by_key[key]
  if not c then
    c = { key = key, overflow = overflow_key(band, value), remove = {}, add = {} }
    changes.by_key[key] = c
    changes.list[#changes.list + 1] = c
  end
  return c
end

-- Applies the changes: each record to remove (whole: ordinal and sketch) leaves the bucket string,
-- or its overflow list; a bucket that lost records takes records back from its overflow; records
-- to add fill the bucket up to `cap` records and go to the overflow past it. `on_missing(i)` is
-- called for the i-th removal of a bucket that found its record nowhere (an evicted key, say).
local function apply_changes(changes, size, cap)
  local cap_bytes = cap * size
  for _, c in ipairs(changes.list) do
    local s
    if #c.remove > 0 then
      s = redis.call('GET', c.key) or ''
      for i, record in ipairs(c.remove) do
        local p = find_record(s, record.bytes, size)
        if p then
          s = string.sub(s, 1, p - 1) .. string.sub(s, p + size)
        elseif redis.call('LREM', c.overflow, 1, record.bytes) == 0 then
          record.missing()
        end
      end
    end
    local length = s and #s or redis.call('STRLEN', c.key)
    local room = math.floor((cap_bytes - length) / size)
    local pieces = {}
    if s and room > 0 and #c.remove > 0 then
      local back = redis.call('LPOP', c.overflow, room)
      if back then
        for _, record in ipairs(back) do pieces[#pieces + 1] = record end
        room = room - #back
      end
    end
    for _, record in ipairs(c.add) do
      if room > 0 then
        pieces[#pieces + 1] = record
        room = room - 1
      else
        redis.call('RPUSH', c.overflow, record)
      end
    end
    if s then
      s = s .. table.concat(pieces)
      if #s == 0 then redis.call('DEL', c.key) else redis.call('SET', c.key, s) end
    elseif #pieces > 0 then
      if length == 0 then
        redis.call('SET', c.key, table.concat(pieces))
      elseif length < 65536 then
        redis.call('SET', c.key, redis.call('GET', c.key) .. table.concat(pieces))
      else
        redis.call('APPEND', c.key, table.concat(pieces))
      end
    end
  end
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
