-- Seed budget periods that have no hash yet with what the ledger says was
-- spent in them. A period another replica seeded meanwhile is left alone.
--
-- KEYS[i]       budget i's period hash
-- ARGV[2i-1]    budget i's seed (nanodollars spent)
-- ARGV[2i]      when its hash expires (Unix milliseconds)
for i = 1, #KEYS do
  if redis.call('HSETNX', KEYS[i], 'spent', ARGV[2 * i - 1]) == 1 then
    redis.call('HSET', KEYS[i], 'reserved', '0')
    redis.call('PEXPIREAT', KEYS[i], ARGV[2 * i])
  end
end
return 1
