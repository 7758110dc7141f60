-- Write definitions read from PostgreSQL into the catalog, unless it was invalidated
-- since the reader took its version (then they may predate the change: leave them out).
-- KEYS  catalog, version
-- ARGV  version, replace ('1': drop every other definition), field, value, ...
-- Returns 1 (written) or 0 (invalidated meanwhile).
if tonumber(redis.call('GET', KEYS[2]) or '0') ~= tonumber(ARGV[1]) then return 0 end
if ARGV[2] == '1' then redis.call('DEL', KEYS[1]) end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
