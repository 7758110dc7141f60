-- Undo a failed build, unless another build has taken the board over.
-- KEYS  every key of the board (meta first)
-- ARGV  token of the failed build
-- Returns 1 (the board's keys were deleted) or 0 (someone else owns it now).
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  redis.call('DEL', unpack(KEYS))
  return 1
end
return 0
