-- Ranks of some players on a ready board, with their display names.
-- KEYS  meta, zset, names
-- ARGV  members...
-- Returns false (not ready) or {total, found, names}: found a flat list {member, score,
-- better, ...} for the members that have a score, better being how many players score
-- strictly better; names (names.lua) one per member found.
if redis.call('HGET', KEYS[1], 'state') ~= 'ready' then return false end
local out = {}
for _, member in ipairs(ARGV) do
  local score = redis.call('ZSCORE', KEYS[2], member)
  if score then
    out[#out + 1] = member
    out[#out + 1] = score
    out[#out + 1] = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. score)
  end
end
return {redis.call('ZCARD', KEYS[2]), out, names_of(KEYS[3], out, 3)}
