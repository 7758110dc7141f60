-- Swap a finished build in, set its fences and replay the batches queued meanwhile
-- (runs after apply_units.lua). The build keys carry the build timeout as an expiry (so an
-- abandoned build cleans itself up) and RENAME carries an expiry over: every key of the
-- ready board is PERSISTed, or the live set would vanish when the build's timeout fires.
-- KEYS  meta, zset, pending, build, times, build_times
-- ARGV  token, fences (JSON {partition: next offset} the snapshot covers)
-- Returns ready, superseded (another build owns the board now; ours is thrown away) or
-- stale (a queued batch left a gap: the board is frozen at its last consistent state,
-- shown to readers until it is rebuilt).
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1]
   or redis.call('HGET', KEYS[1], 'state') ~= 'building' then
  redis.call('DEL', KEYS[4], KEYS[6])
  return 'superseded'
end
for i, target in ipairs({KEYS[2], KEYS[5]}) do
  local built = ({KEYS[4], KEYS[6]})[i]
  if redis.call('EXISTS', built) == 1 then
    redis.call('RENAME', built, target)
    redis.call('PERSIST', target)
  else
    redis.call('DEL', target)
  end
end
-- The fences of a set that served through the build go with it.
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 2) == 'p:' then redis.call('HDEL', KEYS[1], field) end
end
redis.call('HDEL', KEYS[1], 'serving', 'lease')
redis.call('HSET', KEYS[1], 'state', 'ready')
for partition, offset in pairs(cjson.decode(ARGV[2])) do
  redis.call('HSET', KEYS[1], 'p:' .. partition, offset)
end
redis.call('PERSIST', KEYS[1])
for _, payload in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  if apply_units(KEYS[1], KEYS[2], KEYS[5], payload) == 0 then
    redis.call('HSET', KEYS[1], 'state', 'stale', 'serving', 'stale')
    redis.call('DEL', KEYS[3])
    return 'stale'
  end
end
redis.call('DEL', KEYS[3])
return 'ready'
