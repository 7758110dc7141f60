-- A library, not a script: prepended to apply.lua and finish_build.lua.
--
-- apply_units(meta, zset, times, payload) applies one consumer batch to a ready board.
--   meta     the board's hash: one fence per Kafka partition, `p:<n>` = the next offset of
--            partition n that the set does not yet hold
--   zset     the sorted set (scores stored so that ascending order is board order)
--   times    hash player -> epoch ms: of the event behind a `last` score, or when an
--            `earliest` board's score was reached
--   payload  JSON {op, earliest, units}: op is incr | gt | lt | last | set; each unit
--            is [partition, from_offset, to_offset, values], values a flat list of
--            member, value (and, for last, earliest or set, event time ms) per player;
--            `set` (tournament boards) gives each player's whole score as a string, or
--            'x' for none, and the time -1 where the board keeps none
-- Returns 1, or 0 when a unit does not line up with its fence (a gap: the board is stale).
-- A unit the fence has passed already is skipped: the snapshot held those offsets.
--
-- On an `earliest` board a member is the time its score was reached (15 digits of epoch
-- ms) followed by the player id, so that equal scores fall in the order they were reached,
-- then player id: a new time means a new member.
local function reached_member(ms, player)
  return string.format('%015d', ms) .. player
end

-- One player's (value, ms) onto an `earliest` board: the new score and when it was
-- reached, or nothing when the score stays.
local function apply_earliest(zset, times, op, player, value, ms)
  local seen = redis.call('HGET', times, player)
  local old, score = nil, nil
  if seen then
    seen = tonumber(seen)
    old = reached_member(seen, player)
    score = tonumber(redis.call('ZSCORE', zset, old))
  end
  local new_score, new_ms
  if op == 'incr' then
    new_score, new_ms = (score or 0) + value, math.max(seen or ms, ms)
  elseif op == 'last' then
    if seen and ms < seen then return end
    new_score, new_ms = value, ms
  elseif score == nil or (op == 'gt' and value > score) or (op == 'lt' and value < score) then
    new_score, new_ms = value, ms
  elseif value == score and ms < seen then
    new_score, new_ms = score, ms
  else
    return
  end
  if old then redis.call('ZREM', zset, old) end
  redis.call('ZADD', zset, string.format('%.17g', new_score), reached_member(new_ms, player))
  redis.call('HSET', times, player, string.format('%d', new_ms))
end

-- One player's whole score (a tournament board's: the consumer computes it from the log).
local function apply_set(zset, times, earliest, player, value, ms)
  if earliest then
    local seen = redis.call('HGET', times, player)
    if seen then redis.call('ZREM', zset, reached_member(tonumber(seen), player)) end
  elseif value == 'x' then
    redis.call('ZREM', zset, player)
  end
  if value == 'x' then
    redis.call('HDEL', times, player)
    return
  end
  redis.call('ZADD', zset, value, earliest and reached_member(ms, player) or player)
  if ms >= 0 then redis.call('HSET', times, player, string.format('%d', ms)) end
end

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
      if op == 'set' then
        for i = 1, #values, 3 do
          apply_set(zset, times, batch.earliest, values[i], values[i + 1], values[i + 2])
        end
      elseif batch.earliest then
        for i = 1, #values, 3 do
          apply_earliest(zset, times, op, values[i], values[i + 1], values[i + 2])
        end
      elseif op == 'last' then
        -- {member, value, event time ms}: a later (or equally timed, later arriving)
        -- event replaces the score
        for i = 1, #values, 3 do
          local seen = tonumber(redis.call('HGET', times, values[i]) or '-1e18')
          if values[i + 2] >= seen then
            redis.call('ZADD', zset, values[i + 1], values[i])
            redis.call('HSET', times, values[i], values[i + 2])
          end
        end
      else
        for i = 1, #values, 2 do
          if op == 'incr' then
            redis.call('ZINCRBY', zset, values[i + 1], values[i])
          elseif op == 'gt' then
            redis.call('ZADD', zset, 'GT', values[i + 1], values[i])
          else
            redis.call('ZADD', zset, 'LT', values[i + 1], values[i])
          end
        end
      end
      redis.call('HSET', meta, field, to)
    else
      return 0
    end
  end
  return 1
end
