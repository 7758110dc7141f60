-- Add names from a snapshot without overwriting any the hash holds: those were set after
-- their commit, so they are at least as new as the snapshot's.
-- KEYS  names
-- ARGV  external_id, display_name, ...
for i = 1, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
return #ARGV / 2
