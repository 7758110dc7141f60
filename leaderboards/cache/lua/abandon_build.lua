-- Undo a failed build, unless another build has taken the board over (runs after
-- apply_units.lua).
-- KEYS  every key of the board (meta first)
-- ARGV  token of the failed build
-- Returns 1 (the board's keys were deleted), 2 (the set the build was to replace serves
-- again) or 0 (someone else owns it now).
--
-- A board that served through the build (begin_build.lua) keeps its set: one that was
-- ready catches up with the batches queued meanwhile and is ready again if they line up
-- with its fences; otherwise, or if it was stale, it stays stale (frozen, still shown).
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
local state, serving = unpack(redis.call('HMGET', KEYS[1], 'state', 'serving'))
if state ~= 'building' or not serving then
  redis.call('DEL', unpack(KEYS))
  return 1
end
redis.call('DEL', KEYS[4], KEYS[6])
redis.call('HDEL', KEYS[1], 'token', 'lease')
redis.call('HSET', KEYS[1], 'state', 'stale', 'serving', 'stale')
if serving == 'ready' then
  local caught_up = true
  for _, payload in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
    if apply_units(KEYS[1], KEYS[2], KEYS[5], payload) == 0 then
      caught_up = false
      break
    end
  end
  if caught_up then
    redis.call('HSET', KEYS[1], 'state', 'ready')
    redis.call('HDEL', KEYS[1], 'serving')
  end
end
redis.call('DEL', KEYS[3])
return 2
