-- Library (joined before the read scripts): players' display names, and whether a
-- board may be shown.
-- The names hash maps external id -> display name ('' for none). Its field '' (no
-- player has an empty id) says it is loaded: until then names_of returns false and the
-- caller asks PostgreSQL.
-- names_of(key, list, step, strip): the names of list[1], list[1 + step], ... (HMGET
-- order; false for a player the hash does not know), each entry's first `strip` bytes
-- dropped (the reached time of an `earliest` board's members). No key (on a Redis
-- Cluster, where the names hash sits in a slot of its own): false, and the caller asks
-- for the names in a second call (names_get.lua).
local function names_of(key, list, step, strip)
  if key == nil or redis.call('HEXISTS', key, '') == 0 then return false end
  if #list == 0 then return {} end
  local members = {}
  for i = 1, #list, step do members[#members + 1] = string.sub(list[i], strip + 1) end
  return redis.call('HMGET', key, unpack(members))
end

-- member_of(times, player, strip): the set's member for a player; on an `earliest` board
-- (strip > 0) its reached time and id, or false when the player has no score.
local function member_of(times, player, strip)
  if strip == 0 then return player end
  local ms = redis.call('HGET', times, player)
  if not ms then return false end
  return string.format('%0' .. strip .. 'd', tonumber(ms)) .. player
end

-- shown(meta): whether readers may be shown the board's set, and whether it is stale: a
-- ready board (false), or one frozen at its last consistent state (stale, or being built
-- again while its old set serves: true); nil when there is nothing to show.
local function shown(meta)
  local state, serving = unpack(redis.call('HMGET', meta, 'state', 'serving'))
  if state == 'ready' then return false end
  if serving then return true end
  return nil
end
