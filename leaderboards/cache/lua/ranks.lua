-- Ranks of some players on a board readers may be shown, with their display names.
-- KEYS  meta, zset, times[, names] (none on a Redis Cluster: names.lua)
-- ARGV  strip (as top.lua), players...
-- Returns false (nothing to show) or {total, found, names, stale}: found a flat list {player, score,
-- ahead, ...} for the players that have a score, ahead being how many players are ranked
-- ahead (score strictly better; on an `earliest` board, the player's place - 1); names
-- (names.lua) one per player found, stale as top.lua's.
local stale = shown(KEYS[1])
if stale == nil then return false end
local strip = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV do
  local member = member_of(KEYS[3], ARGV[i], strip)
  local score = member and redis.call('ZSCORE', KEYS[2], member)
  if score then
    out[#out + 1] = ARGV[i]
    out[#out + 1] = score
    if strip == 0 then
      out[#out + 1] = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. score)
    else
      out[#out + 1] = redis.call('ZRANK', KEYS[2], member)
    end
  end
end
return {redis.call('ZCARD', KEYS[2]), out, names_of(KEYS[4], out, 3, 0), stale and 1 or 0}
