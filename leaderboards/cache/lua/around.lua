-- A player and up to n neighbours each side, on a board readers may be shown, with their display names.
-- KEYS  meta, zset, times[, names] (none on a Redis Cluster: names.lua)
-- ARGV  player, n, strip (as top.lua)
-- Returns false (nothing to show) or {total, start, better_than_first, rows, names,
-- stale}: start is
-- the 0-based place of the first row (-1 when the player has no score), rows as ZRANGE
-- WITHSCORES gives them, names (names.lua) one per row, stale as top.lua's.
local stale = shown(KEYS[1])
if stale == nil then return false end
local strip = tonumber(ARGV[3])
local total = redis.call('ZCARD', KEYS[2])
local member = member_of(KEYS[3], ARGV[1], strip)
local index = member and redis.call('ZRANK', KEYS[2], member)
if not index then return {total, -1, 0, {}, {}, stale and 1 or 0} end
local n = tonumber(ARGV[2])
local start = math.max(0, index - n)
local rows = redis.call('ZRANGE', KEYS[2], start, index + n, 'WITHSCORES')
local better = 0
if strip == 0 then better = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. rows[2]) end
return {total, start, better, rows, names_of(KEYS[4], rows, 2, strip), stale and 1 or 0}
