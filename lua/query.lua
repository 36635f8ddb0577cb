--[[
query.lua: the candidates of one query. Every id that shares a band bucket with the query is
counted; the best by collisions go on to a second stage that ranks them by the Hamming distance
between their whole signature (read from their reverse record) and the query's.
KEYS[1], ARGV[1] (key base), ARGV[2] (fingerprint), ARGV[3] (view): as in common.lua
KEYS[2 .. ]    the buckets the query reads: its own in each band, then any probes (at most one
               per band holds a given id, so collisions still count bands)
ARGV[4]        stage 1: how many candidates, best by collisions, go on
ARGV[5]        stage 2: how many of those to return, closest by Hamming distance (0: skip the
               stage and return stage 1 as it is)
ARGV[6]        the query's packed signature (as in a reverse record)
ARGV[7]        reverse pages
ARGV[8]        the most bucket members the call reads in all: a bucket larger than what is left of
               it (duplicates, a narrow cone) is sampled (SRANDMEMBER) and the buckets after it are
               not read, so a giant bucket costs a bounded time, not seconds of everyone's Redis
Read-only: it writes nothing, so a client may send it to a replica.
Returns {id type ("" for an empty index), epoch, seq (the caller's view), distinct candidates in
all, bucket members read, 1 when the budget cut the read short (else 0), candidates of stage 2
without a reverse record (evicted or damaged: left out), id1, collisions1, hamming1, id2, ...}: stage 1 order (most collisions first, ties by id: integer ids by value,
string ids bytewise) with hamming -1, or stage 2 order (least Hamming distance first, then most
collisions, then id). With stage 2, which of the ids tied at the stage-1 cut go on is the order
they were found in (own buckets first, then probes cheapest first), not their ids.
Errors: "LSHRS_PARAMS", "LSHRS_LOST" (common.lua).
]]
local stored, refused = checked_meta(nil)
if refused then return refused end
local limit = tonumber(ARGV[4])
local closest = tonumber(ARGV[5])

local budget = tonumber(ARGV[8])
local counts, distinct = {}, {}
local read, truncated = 0, 0
for k = 2, #KEYS do
  local left = budget - read
  if left <= 0 then
    truncated = 1
    break
  end
  local members
  if redis.call('SCARD', KEYS[k]) <= left then
    members = redis.call('SMEMBERS', KEYS[k])
  else
    members = redis.call('SRANDMEMBER', KEYS[k], left)
    truncated = 1
  end
  read = read + #members
  for j = 1, #members do
    local id = members[j]
    local c = counts[id]
    if c then
      counts[id] = c + 1
    else
      counts[id] = 1
      distinct[#distinct + 1] = id
    end
  end
end

-- Stage 1, a counting sort by collisions: only the groups that reach the limit are ordered.
local groups = {}
for j = 1, #distinct do
  local id = distinct[j]
  local c = counts[id]
  local group = groups[c]
  if group then group[#group + 1] = id else groups[c] = { id } end
end

local id_type = stored[2] or ''
local before
if id_type == 'int' then
  before = function(a, b)
    if #a ~= #b then return #a < #b end
    return a < b
  end
else
  before = function(a, b) return a < b end
end

-- Stage 1 alone orders ties by id (so shards' lists merge exactly). Before stage 2, which orders
-- what it keeps anyway, ties stay in the order they were found: KEYS lists the query's own buckets
-- first and then the probes cheapest first, so an id found in a likelier bucket goes on first, and
-- no group is sorted at all (sorting the group the limit cuts through dominated the script's time).
local picked = {}
for c = #KEYS - 1, 1, -1 do
  if #picked >= limit then break end
  local group = groups[c]
  if group then
    if closest <= 0 then table.sort(group, before) end
    for j = 1, math.min(#group, limit - #picked) do picked[#picked + 1] = group[j] end
  end
end

local out = { id_type, stored[3] or '', tonumber(stored[4]) or 0, #distinct, read, truncated, 0 }
if closest <= 0 or #picked == 0 then
  for j = 1, #picked do
    out[#out + 1] = picked[j]
    out[#out + 1] = counts[picked[j]]
    out[#out + 1] = -1
  end
  return out
end

-- Stage 2: Hamming distance of whole signatures. Per byte position, a table of the bits each byte
-- value differs from the query's in: a candidate then costs one lookup per byte.
local popcount = {}
for v = 0, 255 do
  local n, x = 0, v
  while x > 0 do
    n = n + (x % 2)
    x = math.floor(x / 2)
  end
  popcount[v] = n
end
local query = { string.byte(ARGV[6], 1, -1) }
local width = #query
local differ = {}
for i = 1, width do
  local row, q = {}, query[i]
  for v = 0, 255 do row[v] = popcount[bit.bxor(q, v)] end
  differ[i] = row
end
local pages = tonumber(ARGV[7])
-- Candidates grouped by distance (a counting sort): only the groups that are returned get sorted,
-- by collisions then id.
local at_distance = {}
for j = 1, #picked do
  local id = picked[j]
  local sig = redis.call('HGET', reverse_key(page_of(id, id_type, pages)), id)
  if sig then
    local bytes = { string.byte(sig, 1, width) }
    local d = 0
    for i = 1, width do d = d + differ[i][bytes[i]] end
    local group = at_distance[d]
    if group then group[#group + 1] = id else at_distance[d] = { id } end
  else
    out[7] = out[7] + 1 -- a bucket member without a reverse record: evicted or damaged
  end
end
local by_collisions = function(a, b)
  if counts[a] ~= counts[b] then return counts[a] > counts[b] end
  return before(a, b)
end
local returned = 0
for d = 0, width * 8 do
  if returned >= closest then break end
  local group = at_distance[d]
  if group then
    table.sort(group, by_collisions)
    for j = 1, math.min(#group, closest - returned) do
      out[#out + 1] = group[j]
      out[#out + 1] = counts[group[j]]
      out[#out + 1] = d
    end
    returned = math.min(returned + #group, closest)
  end
end
return out
