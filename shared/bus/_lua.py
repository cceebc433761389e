"""Lua scripts of the Redis backend; each runs atomically on the server."""

from __future__ import annotations

PUBLISH = """
-- KEYS[1] seq counter, KEYS[2] leader lock, KEYS[3] epoch, KEYS[4] last publish record,
-- then per event: KEYS[3+2i] history stream, KEYS[4+2i] latest
-- ARGV[1] fence holder ('' = no fence), ARGV[2] event count, ARGV[3] epoch candidate,
-- ARGV[4] leader lock ttl ms with which the fence holder takes an ABSENT lock (0 = never take it),
-- ARGV[5] publish command (PUBLISH, or SPUBLISH on a cluster),
-- ARGV[6] the epoch of the publisher's highest id ('' = none), ARGV[7] that highest id,
-- ARGV[8] the batch token ('' = none): a batch whose token is the last one applied is not applied again,
-- its first result is returned (a retry after a lost reply), ARGV[9] how long that record is kept, ms,
-- then per event 5 values: envelope head, envelope tail, channel, history max length, ttl seconds (0 = none)
-- Fenced (error FENCED) only when another holder has the lock, or it is absent and ARGV[4] is 0.
-- Returns {epoch, held, id...}: held is the counter found below the publisher's highest id of the same
-- epoch (acknowledged events were lost, e.g. in a failover) after lifting the counter to it, else -1.
if ARGV[8] ~= '' then
  local last = redis.call('GET', KEYS[4])
  if last then
    local sep = string.find(last, '|', 1, true)
    if sep and string.sub(last, 1, sep - 1) == ARGV[8] then
      return cjson.decode(string.sub(last, sep + 1))
    end
  end
end
if ARGV[1] ~= '' then
  local holder = redis.call('GET', KEYS[2])
  if holder == false and ARGV[4] ~= '0' then
    redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4])
  elseif holder ~= ARGV[1] then
    return redis.error_reply('FENCED another replica holds the leadership')
  end
end
redis.call('SET', KEYS[3], ARGV[3], 'NX')
local epoch = redis.call('GET', KEYS[3])
local held = -1
if epoch == ARGV[6] then
  local current = tonumber(redis.call('GET', KEYS[1]) or '0')
  if current < tonumber(ARGV[7]) then
    held = current
    redis.call('SET', KEYS[1], ARGV[7])
  end
end
local result = {epoch, held}
for i = 1, tonumber(ARGV[2]) do
  local stream, latest = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local a = 9 + 5 * (i - 1)
  local seq = redis.call('INCR', KEYS[1])
  local prev = 0
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if #last > 0 then prev = tonumber(string.match(last[1][1], '^(%d+)')) end
  if prev >= seq then
    seq = prev + 1
    redis.call('SET', KEYS[1], seq)
  end
  local payload = ARGV[a + 1] .. seq .. ARGV[a + 2]
  redis.call('XADD', stream, 'MAXLEN', ARGV[a + 4], seq .. '-0', 'e', payload, 'p', prev)
  redis.call('SET', latest, payload)
  if ARGV[a + 5] ~= '0' then
    redis.call('EXPIRE', stream, ARGV[a + 5])
    redis.call('EXPIRE', latest, ARGV[a + 5])
  end
  redis.call(ARGV[5], ARGV[a + 3], payload)
  result[2 + i] = seq
end
if ARGV[8] ~= '' then
  redis.call('SET', KEYS[4], ARGV[8] .. '|' .. cjson.encode(result), 'PX', ARGV[9])
end
return result
"""

HISTORY = """
-- KEYS[1] seq counter, KEYS[2] epoch, KEYS[3] history stream ('' = none);
-- ARGV[1] after id, ARGV[2] count, ARGV[3] epoch candidate
-- returns {current seq, epoch, entries, write refusal}; entries are {id, {field, value, ...}}; the write
-- refusal is Redis's error reply to the epoch's SET NX ('' when writes are accepted), so reads still work
-- while Redis refuses writes (out of memory, a read-only replica) and say so.
local refused = redis.pcall('SET', KEYS[2], ARGV[3], 'NX')
refused = type(refused) == 'table' and refused.err or ''
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local entries = {}
if tonumber(ARGV[2]) > 0 then
  entries = redis.call('XRANGE', KEYS[3], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])
end
return {current, redis.call('GET', KEYS[2]), entries, refused}
"""

HOLD_LEADERSHIP = """
-- KEYS[1] leader lock; ARGV[1] holder, ARGV[2] ttl ms. Returns 1 when the holder leads.
local current = redis.call('GET', KEYS[1])
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

RELEASE_LEADERSHIP = """
-- KEYS[1] leader lock; ARGV[1] holder
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

RENEW_LEASE = """
-- KEYS[1] leases zset; ARGV[1] member, ARGV[2] ttl ms. Scores are expiry times on the server clock.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
"""

LEASED = """
-- KEYS[1] leases zset. Purges expired leases and returns the live members.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
