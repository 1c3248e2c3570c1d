-- Report a budget period's spending, releasing leases that ran out.
--
-- KEYS[1]       the period hash
-- KEYS[2]       its leases
-- ARGV[1]       now in microseconds, or "" for the server's TIME
--
-- Returns {0} if the period is not seeded, else {1, spent, reserved}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local h, l = KEYS[1], KEYS[2]
local gone = redis.call('ZRANGEBYSCORE', l, '-inf', now)
for _, rid in ipairs(gone) do
  local c = redis.call('HGET', h, 'r:' .. rid)
  if c then
    if c ~= '0' then redis.call('HINCRBY', h, 'reserved', '-' .. c) end
    redis.call('HDEL', h, 'r:' .. rid)
  end
end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', l, '-inf', now) end
local v = redis.call('HMGET', h, 'spent', 'reserved')
return {1, v[1] or '0', v[2] or '0'}
