--[[
ids.lua: the ids of a query's best candidates, by their ordinals (read-only).
KEYS[1], ARGV[1] (key base), ARGV[2] (fingerprint), ARGV[3] (view): as in common.lua
ARGV[4]   reverse pages (the ordinal -> id hashes are spread over as many)
then the ordinals
A query ranks what one MGET of its buckets returned in the client; this second, bounded call (one
HGET per candidate kept, never per candidate read) turns the few it keeps into ids. Direct
ordinals (integer ids below 2^31, common.lua) are their ids: the client sends only the others.
Returns {id type ("" for an empty index), epoch, seq (the caller's view), id or false per ordinal}:
false for an ordinal whose id was removed since the buckets were read.
Errors: "LSHRS_PARAMS", "LSHRS_LOST" (common.lua).
]]
local stored, refused = checked_meta(nil)
if refused then return refused end
local pages = tonumber(ARGV[4])
local out = { stored[2] or '', stored[3] or '', tonumber(stored[4]) or 0 }
for i = 5, #ARGV do
  out[#out + 1] = id_of_ordinal(stored[2], tonumber(ARGV[i]), pages)
end
return out
