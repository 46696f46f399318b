-- GCRA in one atomic step, on the server's clock (microseconds since the epoch, from TIME).
-- KEYS[1]: the limit's key, holding its theoretical arrival time (TAT) in microseconds.
-- ARGV[1]: the emission interval (µs); ARGV[2]: the tolerance, interval × (burst − 1) (µs).
-- Returns {1, 0} when admitted, {0, wait_us} when refused. Every number stays below 2^53, so
-- Lua's doubles are exact (checked when the limiter is built).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local allow_at = tat - tolerance
if now < allow_at then
  return {0, allow_at - now}
end
local new_tat = tat + interval
-- The key expires when the limit is full again: an idle key costs nothing.
local ttl_ms = math.ceil((new_tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl_ms)
return {1, 0}
