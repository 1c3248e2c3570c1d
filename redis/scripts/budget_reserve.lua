-- Reserve ARGV[5] nanodollars in the current period of every budget, all
-- or nothing: the atomic evaluation of usage.DecideBudget's rule.
--
-- KEYS[1]       the reservation's marker (settles it, and a retried
--               reserve, once)
-- KEYS[2i]      budget i's period hash: spent, reserved, warned, and
--               r:<reservation ID> → cost for each unsettled reservation
-- KEYS[2i+1]    budget i's leases: reservation ID scored by lease expiry (µs)
-- ARGV[1]       now in microseconds since the epoch, or "" for the server's TIME
-- ARGV[2]       reservation ID
-- ARGV[3]       lease in microseconds
-- ARGV[4]       marker TTL in milliseconds
-- ARGV[5]       cost
-- ARGV[6+3(i-1)..]  budget i's amount, hard (1 or 0), and when its keys
--               expire (Unix milliseconds: after the period ended)
--
-- Returns {2, i, …} naming the budgets whose period is not seeded yet
-- (nothing applied); otherwise {allowed, duplicate, then per budget:
-- spent, reserved, warned} as of before the reservation.
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
-- Amounts go to Redis as the strings they came in: Lua would format a
-- large number in exponent notation, which HINCRBY refuses.
local id, lease, markerTTL = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local costS = ARGV[5]
local cost = tonumber(costS)
local n = (#KEYS - 1) / 2

local missing = {2}
for i = 1, n do
  if redis.call('EXISTS', KEYS[2 * i]) == 0 then missing[#missing + 1] = i end
end
if #missing > 1 then return missing end

local spent, reserved, warned = {}, {}, {}
local ok = true
for i = 1, n do
  local h, l = KEYS[2 * i], KEYS[2 * i + 1]
  -- Release the leases that ran out: their replica never settled them.
  local gone = redis.call('ZRANGEBYSCORE', l, '-inf', now)
  for _, rid in ipairs(gone) do
    local c = redis.call('HGET', h, 'r:' .. rid)
    if c then
      if c ~= '0' then redis.call('HINCRBY', h, 'reserved', '-' .. c) end
      redis.call('HDEL', h, 'r:' .. rid)
    end
  end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', l, '-inf', now) end
  local v = redis.call('HMGET', h, 'spent', 'reserved', 'warned')
  spent[i], reserved[i], warned[i] = v[1] or '0', v[2] or '0', v[3] or '0'
  local b = 6 + 3 * (i - 1)
  local amount, hard = tonumber(ARGV[b]), ARGV[b + 1] == '1'
  if hard and tonumber(spent[i]) + tonumber(reserved[i]) + cost > amount then ok = false end
end

local dup = redis.call('EXISTS', KEYS[1]) == 1
if ok and not dup then
  for i = 1, n do
    local h, l = KEYS[2 * i], KEYS[2 * i + 1]
    local b = 6 + 3 * (i - 1)
    local amount, expireAt = tonumber(ARGV[b]), ARGV[b + 2]
    if tonumber(spent[i]) + tonumber(reserved[i]) + cost > amount then
      redis.call('HSET', h, 'warned', '1')
    end
    redis.call('HINCRBY', h, 'reserved', costS)
    redis.call('HSET', h, 'r:' .. id, costS)
    redis.call('ZADD', l, now + lease, id)
    redis.call('PEXPIREAT', h, expireAt)
    redis.call('PEXPIREAT', l, expireAt)
  end
  redis.call('SET', KEYS[1], '1', 'PX', markerTTL)
end

local out = {(ok or dup) and 1 or 0, dup and 1 or 0}
for i = 1, n do
  out[#out + 1] = spent[i]
  out[#out + 1] = reserved[i]
  out[#out + 1] = warned[i]
end
return out
