-- Reserve one request, ARGV[7] tokens and one concurrency slot in every
-- scope, all or nothing: the atomic evaluation of limit.Decide's rule.
--
-- Use is counted in a sliding window of W time slots of G microseconds
-- each (the current slot and the W-1 before it); a window hash maps a
-- slot number (now // G) to what was used in it.
--
-- KEYS[1]       the reservation's marker (makes settling, and a retried
--               reserve, happen once)
-- KEYS[3i-1]    scope i's requests window hash
-- KEYS[3i]      scope i's tokens window hash
-- KEYS[3i+1]    scope i's in-flight set: reservation ID scored by lease expiry
-- ARGV[1]       now in microseconds since the epoch, or "" for the server's TIME
-- ARGV[2]       reservation ID
-- ARGV[3]       lease in microseconds
-- ARGV[4]       marker TTL in milliseconds
-- ARGV[5]       G, slot width in microseconds
-- ARGV[6]       W, slots in a window
-- ARGV[7]       estimated tokens
-- ARGV[8+3(i-1)..]  scope i's requests per window, tokens per window, concurrent
--
-- Returns {allowed, duplicate, now, then per scope: in flight, requests
-- window, tokens window}, each window a flat list of age, use pairs (age 0
-- is the current slot), as of before the reservation.
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local id, lease, markerTTL = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local G, W, tokens = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local k = math.floor(now / G)
local ttl = math.ceil((W + 1) * G / 1000)
local n = (#KEYS - 1) / 3

-- window returns the use in key's window and its age, use pairs, and
-- deletes slots that left it.
local function window(key, limit)
  local total, out = 0, {}
  if limit <= 0 then return total, out end
  local h = redis.call('HGETALL', key)
  for j = 1, #h, 2 do
    local age, v = k - tonumber(h[j]), tonumber(h[j + 1])
    if age >= W then
      redis.call('HDEL', key, h[j])
    else
      if age < 0 then age = 0 end -- written by a clock ahead of ours
      total = total + v
      out[#out + 1] = age
      out[#out + 1] = v
    end
  end
  return total, out
end

local lim, used, wins, inflight = {}, {}, {}, {}
local ok = true
for i = 1, n do
  local b = 8 + 3 * (i - 1)
  local rpm, tpm, conc = tonumber(ARGV[b]), tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
  lim[i] = {rpm, tpm, conc}
  local ru, rw = window(KEYS[3 * i - 1], rpm)
  local tu, tw = window(KEYS[3 * i], tpm)
  used[i], wins[i] = {ru, tu}, {rw, tw}
  inflight[i] = 0
  if conc > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[3 * i + 1], '-inf', now)
    inflight[i] = redis.call('ZCARD', KEYS[3 * i + 1])
  end
  if rpm > 0 and ru + 1 > rpm then ok = false end
  if tpm > 0 and tu + tokens > tpm then ok = false end
  if conc > 0 and inflight[i] >= conc then ok = false end
end

-- A retried call whose first attempt was applied must not apply twice.
local dup = redis.call('EXISTS', KEYS[1]) == 1
if ok and not dup then
  local slot = string.format('%d', k)
  for i = 1, n do
    local rpm, tpm, conc = lim[i][1], lim[i][2], lim[i][3]
    if rpm > 0 then
      redis.call('HINCRBY', KEYS[3 * i - 1], slot, 1)
      redis.call('PEXPIRE', KEYS[3 * i - 1], ttl)
    end
    if tpm > 0 and tokens > 0 then
      redis.call('HINCRBY', KEYS[3 * i], slot, tokens)
      redis.call('PEXPIRE', KEYS[3 * i], ttl)
    end
    if conc > 0 then
      redis.call('ZADD', KEYS[3 * i + 1], now + lease, id)
      redis.call('PEXPIRE', KEYS[3 * i + 1], math.ceil(lease / 1000) + 1000)
    end
  end
  redis.call('SET', KEYS[1], slot, 'PX', markerTTL)
end

local out = {(ok or dup) and 1 or 0, dup and 1 or 0, string.format('%d', now)}
for i = 1, n do
  out[#out + 1] = inflight[i]
  out[#out + 1] = wins[i][1]
  out[#out + 1] = wins[i][2]
end
return out
