-- Reconcile use a replica admitted without Redis (limit.Reconciler): add
-- its local use to the slots it was admitted in, and give back what it
-- admitted through Redis if Redis lost it. Applied once per
-- reconciliation ID.
--
-- The epoch key names the state of Redis's counts: it has no expiry, so it
-- is gone exactly when Redis lost its data. If it holds the epoch the
-- replica last saw, Redis kept what the replica admitted through it, and
-- that is only a floor (a no-op unless Redis came back with an older copy
-- of its counts). If it is missing or different, Redis lost it since the
-- replica last saw it, and it is added, as each replica adds its own once.
-- A replica that never saw an epoch asks for the floor. The epoch is
-- created if missing.
--
-- KEYS[1]       the reconciliation's marker
-- KEYS[2]       the epoch
-- KEYS[2i+1]    scope i's requests window hash
-- KEYS[2i+2]    scope i's tokens window hash
-- ARGV[1]       now in microseconds since the epoch, or "" for the server's TIME
-- ARGV[2]       G, slot width in microseconds
-- ARGV[3]       W, slots in a window
-- ARGV[4]       marker TTL in milliseconds
-- ARGV[5]       the epoch the replica last saw, or ""
-- ARGV[6]       a new epoch, set if there is none
-- ARGV[7..]     per scope: the number of slots n, then n times: age (0 is
--               the current slot; youngest first), local requests, local
--               tokens, shared requests, shared tokens
--
-- Returns the epoch in force, whether the call was applied or (a retry of
-- an ID applied before) not.
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local seen = ARGV[5]
local current = redis.call('GET', KEYS[2])
if not current then
  redis.call('SET', KEYS[2], ARGV[6])
end
local epoch = current or ARGV[6]
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[4]) then return epoch end
local lost = seen ~= '' and current ~= seen

local G, W = tonumber(ARGV[2]), tonumber(ARGV[3])
local k = math.floor(now / G)
local ttl = math.ceil((W + 1) * G / 1000)

-- apply reconciles one window hash: loc is added; shr is added if Redis
-- lost it, a floor otherwise.
local function apply(key, ages, loc, shr)
  local changed = false
  if lost then
    for j = 1, #ages do
      local n = loc[j] + shr[j]
      if n > 0 then
        redis.call('HINCRBY', key, string.format('%d', k - ages[j]), n)
        changed = true
      end
    end
    if changed then redis.call('PEXPIRE', key, ttl) end
    return
  end
  local want = 0
  for j = 1, #ages do want = want + shr[j] end
  if want > 0 then
    local have = 0
    local h = redis.call('HGETALL', key)
    for m = 1, #h, 2 do
      if k - tonumber(h[m]) < W then have = have + tonumber(h[m + 1]) end
    end
    local deficit = want - have
    for j = 1, #ages do
      if deficit <= 0 then break end
      local t = math.min(deficit, shr[j])
      if t > 0 then
        redis.call('HINCRBY', key, string.format('%d', k - ages[j]), t)
        deficit = deficit - t
        changed = true
      end
    end
  end
  for j = 1, #ages do
    if loc[j] > 0 then
      redis.call('HINCRBY', key, string.format('%d', k - ages[j]), loc[j])
      changed = true
    end
  end
  if changed then redis.call('PEXPIRE', key, ttl) end
end

local a = 7
for i = 1, (#KEYS - 2) / 2 do
  local n = tonumber(ARGV[a])
  a = a + 1
  local ages, lreq, ltok, sreq, stok = {}, {}, {}, {}, {}
  for j = 1, n do
    ages[j], lreq[j], ltok[j] = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    sreq[j], stok[j] = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
    a = a + 5
  end
  apply(KEYS[2 * i + 1], ages, lreq, sreq)
  apply(KEYS[2 * i + 2], ages, ltok, stok)
end
return epoch
