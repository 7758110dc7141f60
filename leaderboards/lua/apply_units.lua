-- A library, not a script: prepended to apply.lua and finish_build.lua.
--
-- apply_units(meta, zset, times, payload) applies one consumer batch to a ready board.
--   meta     the board's hash: one fence per Kafka partition, `p:<n>` = the next offset of
--            partition n that the set does not yet hold
--   zset     the sorted set (scores stored so that ascending order is board order)
--   times    hash member -> event time in epoch ms of its score (`last` boards only)
--   payload  JSON {op, units}: op is incr | gt | lt | last; each unit is
--            [partition, from_offset, to_offset, values], values a flat list of
--            member, value (and, for last, event time ms) per player
-- Returns 1, or 0 when a unit does not line up with its fence (a gap: the board is stale).
-- A unit the fence has passed already is skipped: the snapshot held those offsets.
local function apply_units(meta, zset, times, payload)
  local batch = cjson.decode(payload)
  local op = batch.op
  for _, unit in ipairs(batch.units) do
    local field = 'p:' .. unit[1]
    local fence = tonumber(redis.call('HGET', meta, field) or '-1')
    local from, to = tonumber(unit[2]), tonumber(unit[3])
    if to <= fence then
      -- the snapshot already holds these offsets
    elseif from == fence then
      local values = unit[4]
      if op == 'last' then
        -- {member, value, event time ms}: a later (or equally timed, later arriving)
        -- event replaces the score
        for i = 1, #values, 3 do
          local seen = tonumber(redis.call('HGET', times, values[i]) or '-1e18')
          if values[i + 2] >= seen then
            redis.call('ZADD', zset, values[i + 1], values[i])
            redis.call('HSET', times, values[i], values[i + 2])
          end
        end
      end
      for i = 1, (op == 'last') and 0 or #values, 2 do
        if op == 'incr' then
          redis.call('ZINCRBY', zset, values[i + 1], values[i])
        elseif op == 'gt' then
          redis.call('ZADD', zset, 'GT', values[i + 1], values[i])
        else
          redis.call('ZADD', zset, 'LT', values[i + 1], values[i])
        end
      end
      redis.call('HSET', meta, field, to)
    else
      return 0
    end
  end
  return 1
end
