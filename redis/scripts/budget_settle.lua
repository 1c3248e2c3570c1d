-- Settle a budget reservation once: release what it reserved in every
-- budget and, for a commit, count what the request cost as spent. The
-- marker Reserve set becomes a tombstone ("settled"), which a reserve of
-- the same ID takes as a duplicate and applies nothing for. A marker that
-- is a tombstone already, or is missing, means nothing to apply: settled,
-- forgotten, or not applied yet — a reserve whose caller gave up waiting
-- for it may still arrive, and the tombstone left then keeps it from
-- reserving for nobody. A reservation whose lease
-- ran out was released already; its commit still counts as spent. A
-- period whose hash is gone (expired, or Redis lost it) is not recreated:
-- the ledger holds the cost, and seeds the period again when it is next
-- used.
--
-- KEYS          as for budget_reserve.lua
-- ARGV[1]       reservation ID
-- ARGV[2]       the actual cost, or -1 for a cancel
-- ARGV[3]       tombstone TTL in milliseconds
--
-- Returns 1 if applied, 0 if there was nothing to apply.
local marker = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], 'settled', 'PX', ARGV[3])
if not marker or marker == 'settled' then return 0 end
local id, actual = ARGV[1], ARGV[2]
local n = (#KEYS - 1) / 2
for i = 1, n do
  local h, l = KEYS[2 * i], KEYS[2 * i + 1]
  local c = redis.call('HGET', h, 'r:' .. id)
  if c then
    if c ~= '0' then redis.call('HINCRBY', h, 'reserved', '-' .. c) end
    redis.call('HDEL', h, 'r:' .. id)
    redis.call('ZREM', l, id)
  end
  if tonumber(actual) > 0 and redis.call('EXISTS', h) == 1 then
    redis.call('HINCRBY', h, 'spent', actual)
  end
end
return 1
