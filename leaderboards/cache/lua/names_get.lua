-- The display names of some players (runs after names.lua): on a Redis Cluster the read
-- scripts cannot reach the names hash, which lives in a slot of its own, so reads ask
-- for it in a second call.
-- KEYS  names
-- ARGV  player ids
-- Returns false (the hash is not loaded: ask PostgreSQL) or one name per player (false
-- for a player the hash does not know).
return names_of(KEYS[1], ARGV, 1, 0)
