-- Mark a board as building, owned by one build's token.
-- KEYS  meta, zset, pending, build, times, build_times
-- ARGV  token, ttl_ms (how long the build may take before it counts as dead),
--       force ('1': rebuild a ready board too), definition
-- Returns 1 (started), 0 (another build runs) or -1 (ready already and not forced).
--
-- A board that readers are shown (ready, or stale: frozen at its last consistent state)
-- for the same definition keeps its set: readers go on seeing it until finish_build swaps
-- the new one in, and abandon_build gives it back if the build fails. `serving` says what
-- it was; `lease` (epoch ms) when the build counts as dead, as the meta's expiry does for a
-- board built from nothing (a serving board's meta must not expire).
local state, serving, def, lease = unpack(
  redis.call('HMGET', KEYS[1], 'state', 'serving', 'def', 'lease'))
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if state == 'building' and (serving == false or tonumber(lease) > now) then return 0 end
if state == 'ready' and ARGV[3] ~= '1' then return -1 end
if state == 'ready' or state == 'stale' then serving = state end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[6])
if serving and def == ARGV[4] then
  redis.call('HSET', KEYS[1], 'state', 'building', 'token', ARGV[1], 'serving', serving,
             'lease', now + tonumber(ARGV[2]))
  return 1
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[5])
redis.call('HSET', KEYS[1], 'state', 'building', 'token', ARGV[1], 'def', ARGV[4],
           'lease', now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
