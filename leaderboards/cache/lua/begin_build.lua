-- Mark a board as building, owned by one build's token, wiping what it held.
-- KEYS  meta, zset, pending, build, times, build_times
-- ARGV  token, ttl_ms (how long the build may take before it counts as dead),
--       force ('1': rebuild a ready board too), definition
-- Returns 1 (started), 0 (another build runs) or -1 (ready already and not forced).
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'building' then return 0 end
if state == 'ready' and ARGV[3] ~= '1' then return -1 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('HSET', KEYS[1], 'state', 'building', 'token', ARGV[1], 'def', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
