-- Library (joined before the read scripts): players' display names.
-- The names hash maps external id -> display name ('' for none). Its field '' (no
-- player has an empty id) says it is loaded: until then names_of returns false and the
-- caller asks PostgreSQL.
-- names_of(key, list, step): the names of list[1], list[1 + step], ... (HMGET order;
-- false for a player the hash does not know).
local function names_of(key, list, step)
  if redis.call('HEXISTS', key, '') == 0 then return false end
  if #list == 0 then return {} end
  local members = {}
  for i = 1, #list, step do members[#members + 1] = list[i] end
  return redis.call('HMGET', key, unpack(members))
end
