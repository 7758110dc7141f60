-- Apply one consumer batch to one board (runs after apply_units.lua).
-- KEYS  meta, zset, pending, times
-- ARGV  payload (see apply_units.lua), max_pending, definition (what the caller thinks
--       the board ranks)
-- Returns absent (not cached), redefined (built for another definition), queued (a build
-- runs: replayed when it finishes), stale (a gap, or too much queued: the board is dropped)
-- or applied.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'absent' end
if redis.call('HGET', KEYS[1], 'def') ~= ARGV[3] then return 'redefined' end
if state == 'building' then
  if redis.call('RPUSH', KEYS[3], ARGV[1]) > tonumber(ARGV[2]) then
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
    return 'stale'
  end
  redis.call('PEXPIRE', KEYS[3], redis.call('PTTL', KEYS[1]))
  return 'queued'
end
if apply_units(KEYS[1], KEYS[2], KEYS[4], ARGV[1]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
  return 'stale'
end
return 'applied'
