-- Apply one consumer batch to one board (runs after apply_units.lua).
-- KEYS  meta, zset, pending, times
-- ARGV  payload (see apply_units.lua), max_pending, definition (what the caller thinks
--       the board ranks)
-- Returns absent (not cached), redefined (built for another definition), queued (a build
-- runs: replayed when it finishes), stale (a gap, or too much queued: the board is frozen
-- at its last consistent state, still shown to readers until it is rebuilt, or dropped
-- when it has none), frozen (stale already: left as it is) or applied.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'absent' end
if redis.call('HGET', KEYS[1], 'def') ~= ARGV[3] then return 'redefined' end
if state == 'stale' then return 'frozen' end
if state == 'building' then
  if redis.call('RPUSH', KEYS[3], ARGV[1]) > tonumber(ARGV[2]) then
    redis.call('DEL', KEYS[3])
    if redis.call('HEXISTS', KEYS[1], 'serving') == 1 then
      -- the set the build was to replace still holds a consistent state; the build, its
      -- token gone, is superseded when it finishes
      redis.call('HDEL', KEYS[1], 'token', 'lease')
      redis.call('HSET', KEYS[1], 'state', 'stale', 'serving', 'stale')
    else
      redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
    end
    return 'stale'
  end
  -- the queue lives as long as the build may (a serving board's meta has no expiry)
  local lease, ttl = redis.call('HGET', KEYS[1], 'lease'), redis.call('PTTL', KEYS[1])
  if lease then
    local now = redis.call('TIME')
    ttl = tonumber(lease) - (tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
  end
  redis.call('PEXPIRE', KEYS[3], math.max(ttl, 1))
  return 'queued'
end
if apply_units(KEYS[1], KEYS[2], KEYS[4], ARGV[1]) == 0 then
  -- A gap (a consumer died between its commit and this step, a lost write): the set holds
  -- every partition up to its fence, a consistent if older state, and goes on serving it.
  redis.call('HSET', KEYS[1], 'state', 'stale', 'serving', 'stale')
  return 'stale'
end
return 'applied'
