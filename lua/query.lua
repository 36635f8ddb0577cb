--[[
query.lua: the candidates of one query, ranked by how many of its band buckets they share.
KEYS[1]        the index's meta hash, <tag>:meta
KEYS[2 .. b+1] the query's bucket in each band
ARGV[1]        the caller's parameter fingerprint
ARGV[2]        the most candidates to return
Returns {id type ("" for an empty index), distinct candidates in all, id1, collisions1, id2, ...}:
most collisions first; ties by id (integer ids by value, string ids bytewise).
Errors: "LSHRS_PARAMS <stored fingerprint>".
]]
local stored = redis.call('HMGET', KEYS[1], 'fingerprint', 'idType')
local refused = params_error(stored[1], ARGV[1])
if refused then return refused end
local limit = tonumber(ARGV[2])

local counts, distinct = {}, {}
for k = 2, #KEYS do
  local members = redis.call('SMEMBERS', KEYS[k])
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

-- Counting sort by collisions: only the groups that reach the limit are ordered.
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
end

local out = { id_type, #distinct }
local left = limit
for c = #KEYS - 1, 1, -1 do
  if left <= 0 then break end
  local group = groups[c]
  if group then
    table.sort(group, before)
    local take = math.min(#group, left)
    for j = 1, take do
      out[#out + 1] = group[j]
      out[#out + 1] = c
    end
    left = left - take
  end
end
return out
