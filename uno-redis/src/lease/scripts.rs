//! The lease scripts: each one atomic step on the server. The lease key holds
//! `<holder>:<token>`; the fence key counts tokens (`INCR`, never expires, so tokens only grow).

use std::sync::LazyLock;

use redis::Script;

/// KEYS: lease, fence; ARGV: holder, ttl (ms). Returns `{1, token}` or `{0, pttl of the holder}`.
pub(super) static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('PTTL', KEYS[1])}
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return {1, token}
",
    )
});

/// KEYS: lease; ARGV: `<holder>:<token>`, ttl (ms). 1 if still ours (and extended), else 0.
pub(super) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
",
    )
});

/// KEYS: lease; ARGV: `<holder>:<token>`. 1 if it was ours (and is now free), else 0.
pub(super) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});
