-- Settle a budget reservation once: release what it reserved in every
-- budget and, for a commit, count what the request cost as spent. The
-- marker Reserve set is deleted; if it is already gone the reservation was
-- settled (or forgotten) and nothing is applied. A reservation whose lease
-- ran out was released already; its commit still counts as spent. A
-- period whose hash is gone (expired, or Redis lost it) is not recreated:
-- the ledger holds the cost, and seeds the period again when it is next
-- used.
--
-- KEYS          as for budget_reserve.lua
-- ARGV[1]       reservation ID
-- ARGV[2]       the actual cost, or -1 for a cancel
--
-- Returns 1 if applied, 0 if already settled.
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
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
