-- A page of a board readers may be shown (names.lua's shown), with the display names of its players.
-- KEYS  meta, zset[, names] (none on a Redis Cluster: names.lua)
-- ARGV  start, stop (0-based places, inclusive), strip (the width of the reached-time
--       prefix of an `earliest` board's members, else 0)
-- Returns false (nothing to show: ask PostgreSQL) or {total, better_than_first, rows,
-- names, stale}:
-- rows as ZRANGE WITHSCORES gives them, better_than_first the players scoring strictly
-- better than the first row (its competition rank - 1; 0 on an `earliest` board, whose
-- ranks are places), names (names.lua) one per row, stale 1 when the set is frozen at
-- an older consistent state (shown while the board is rebuilt), else 0.
local stale = shown(KEYS[1])
if stale == nil then return false end
local strip = tonumber(ARGV[3])
local rows = redis.call('ZRANGE', KEYS[2], ARGV[1], ARGV[2], 'WITHSCORES')
local better = 0
if #rows > 0 and strip == 0 then
  better = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. rows[2])
end
return {redis.call('ZCARD', KEYS[2]), better, rows, names_of(KEYS[3], rows, 2, strip), stale and 1 or 0}
