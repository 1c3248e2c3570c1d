-- Settle a reservation once: a commit (requests 0, tokens actual minus
-- estimate) or a cancel (requests -1, tokens minus the estimate). The
-- marker Reserve set is deleted; if it is already gone the reservation was
-- settled (or is too old) and nothing is applied. Use given back is taken
-- from the slot the reservation was counted in, if it is still in the
-- window; extra use is counted in the current slot.
--
-- KEYS          as for reserve.lua
-- ARGV[1]       now in microseconds, or "" for the server's TIME
-- ARGV[2]       reservation ID
-- ARGV[3]       G, slot width in microseconds
-- ARGV[4]       W, slots in a window
-- ARGV[5]       the slot the reservation was counted in
-- ARGV[6]       requests to add (0 or -1)
-- ARGV[7]       tokens to add (may be negative)
-- ARGV[8+3(i-1)..]  scope i's limits as they were at Reserve
--
-- Returns 1 if applied, 0 if already settled.
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local id, G, W, k0 = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local dreq, dtok = tonumber(ARGV[6]), tonumber(ARGV[7])
local k = math.floor(now / G)
local n = (#KEYS - 1) / 3

local function giveBack(key, amount)
  if k - k0 >= W then return end -- already left the window
  local slot = string.format('%d', k0)
  local v = tonumber(redis.call('HGET', key, slot)) or 0
  if v <= amount then
    redis.call('HDEL', key, slot)
  else
    redis.call('HINCRBY', key, slot, -amount)
  end
end

for i = 1, n do
  local b = 8 + 3 * (i - 1)
  local rpm, tpm, conc = tonumber(ARGV[b]), tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
  if rpm > 0 and dreq < 0 then giveBack(KEYS[3 * i - 1], -dreq) end
  if tpm > 0 and dtok < 0 then giveBack(KEYS[3 * i], -dtok) end
  if tpm > 0 and dtok > 0 then
    redis.call('HINCRBY', KEYS[3 * i], string.format('%d', k), dtok)
    redis.call('PEXPIRE', KEYS[3 * i], math.ceil((W + 1) * G / 1000))
  end
  if conc > 0 then redis.call('ZREM', KEYS[3 * i + 1], id) end
end
return 1
