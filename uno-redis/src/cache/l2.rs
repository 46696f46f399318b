//! The L2: every Redis call the cache makes, its key layout, its channel messages and its Lua
//! scripts. Nothing else in `cache/` talks to Redis.
//!
//! # Layout
//!
//! For a cache named `users` (the name is the key prefix, shared by every instance):
//!
//! | what | Redis | written by |
//! |---|---|---|
//! | the value of key `k` | string `users:v:k`, the codec's bytes, `PX` = the L2 ttl | [`FILL`], under the lease |
//! | the lease of key `k` | string `users:l:k`, a random token, `PX` = the lease ttl | [`ACQUIRE`], [`RENEW`], [`RELEASE`] |
//! | the events | channel `users:events` | [`FILL`], [`RELEASE`], [`INVALIDATE`] |
//!
//! A value's age is `ttl - PTTL` ([`ACQUIRE`]), so a refresh can tell whether another instance
//! refreshed it already, without a timestamp in the value.
//!
//! Channel messages are one tag byte and the key: `f` filled, `r` released without a fill (the
//! fetch failed or panicked: waiters try the lease themselves), `i` invalidated (drop it from
//! L1).

use std::sync::LazyLock;
use std::time::Duration;

use crate::{Redis, RedisError};

/// Fills the value and drops the lease, only while the lease is still `token`'s (fencing: a
/// fetch overtaken by an invalidation, or whose lease expired and was taken over, writes
/// nothing), and tells the waiters. Returns 1 if it wrote.
static FILL: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  redis.call('PUBLISH', ARGV[4], ARGV[5])
  return 1
end
return 0",
    )
});

/// Drops the lease if it is still `token`'s and tells the waiters to try it themselves.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0",
    )
});

/// Extends the lease while it is still `token`'s; 0 once it is lost.
static RENEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0",
    )
});

/// The value if it is fresh enough (`PTTL > ARGV[3]`), else the lease if nobody holds it: one
/// step, so a fill landing between a look and a `SET NX` cannot be missed (that would fetch
/// twice). Returns the value's bytes, or 1 (the lease is ours), or 0 (someone else holds it).
static ACQUIRE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local value = redis.call('GET', KEYS[1])
if value and redis.call('PTTL', KEYS[1]) > tonumber(ARGV[3]) then return value end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0",
    )
});

/// Deletes the value and the lease (so a fill in flight is refused) and tells every instance.
static INVALIDATE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1",
    )
});

/// A message heard on the cache's channel.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Event<'a> {
    Filled(&'a str),
    Released(&'a str),
    Invalidated(&'a str),
}

impl<'a> Event<'a> {
    /// Parses a channel message; `None` for anything that is not the cache's.
    pub(super) fn parse(payload: &'a [u8]) -> Option<Self> {
        let (&tag, key) = payload.split_first()?;
        let key = std::str::from_utf8(key).ok()?;
        match tag {
            b'f' => Some(Event::Filled(key)),
            b'r' => Some(Event::Released(key)),
            b'i' => Some(Event::Invalidated(key)),
            _ => None,
        }
    }
}

/// What [`L2::acquire`] found.
#[derive(Debug)]
pub(super) enum Acquired {
    /// A value, fresh enough.
    Value(Vec<u8>),
    /// No value; the lease is ours.
    Lease,
    /// No value; another instance holds the lease.
    Held,
}

fn message(tag: u8, key: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(1 + key.len());
    message.push(tag);
    message.extend_from_slice(key.as_bytes());
    message
}

/// Milliseconds for `PX`; the builder bounds every duration far below `u64::MAX` ms and above
/// zero, and a sub-millisecond one rounds up so it never becomes `PX 0` (an error in Redis).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// One cache's view of Redis.
#[derive(Debug, Clone)]
pub(super) struct L2 {
    redis: Redis,
    prefix: String,
    channel: String,
    ttl: Duration,
}

impl L2 {
    pub(super) fn new(redis: Redis, name: &str, ttl: Duration) -> Self {
        L2 {
            redis,
            prefix: name.to_owned(),
            channel: format!("{name}:events"),
            ttl,
        }
    }

    pub(super) fn redis(&self) -> &Redis {
        &self.redis
    }

    pub(super) fn channel(&self) -> &str {
        &self.channel
    }

    fn value_key(&self, key: &str) -> String {
        format!("{}:v:{key}", self.prefix)
    }

    fn lease_key(&self, key: &str) -> String {
        format!("{}:l:{key}", self.prefix)
    }

    /// The value's bytes, if Redis holds it.
    pub(super) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, RedisError> {
        self.redis
            .query(redis::cmd("GET").arg(self.value_key(key)))
            .await
    }

    /// The value of `key` if Redis holds one younger than `max_age` (any, if `None`), else
    /// the lease of `key` for `lease_ttl` if nobody holds it.
    pub(super) async fn acquire(
        &self,
        key: &str,
        token: &str,
        lease_ttl: Duration,
        max_age: Option<Duration>,
    ) -> Result<Acquired, RedisError> {
        // Fresh enough: more than `ttl - max_age` left to live; -1 accepts any value.
        let min_pttl = max_age.map_or(-1, |age| {
            i64::try_from(millis(self.ttl.saturating_sub(age))).unwrap_or(i64::MAX)
        });
        let args = [
            token.as_bytes().to_vec(),
            millis(lease_ttl).to_string().into_bytes(),
            min_pttl.to_string().into_bytes(),
        ];
        let keys = [self.value_key(key), self.lease_key(key)];
        let reply: redis::Value = self.redis.eval(&ACQUIRE, &keys, &args).await?;
        Ok(match reply {
            redis::Value::BulkString(bytes) => Acquired::Value(bytes),
            redis::Value::Int(1) => Acquired::Lease,
            _ => Acquired::Held,
        })
    }

    /// Extends `token`'s lease of `key` by `ttl`; `false` if it is no longer `token`'s.
    pub(super) async fn renew(
        &self,
        key: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, RedisError> {
        let args = [
            token.as_bytes().to_vec(),
            millis(ttl).to_string().into_bytes(),
        ];
        let renewed: i64 = self
            .redis
            .eval(&RENEW, &[self.lease_key(key)], &args)
            .await?;
        Ok(renewed == 1)
    }

    /// Writes `bytes` as the value of `key` if `token` still holds its lease, and tells the
    /// waiters; `false` if the lease was lost (nothing written).
    pub(super) async fn fill(
        &self,
        key: &str,
        token: &str,
        bytes: Vec<u8>,
    ) -> Result<bool, RedisError> {
        let args = [
            token.as_bytes().to_vec(),
            bytes,
            millis(self.ttl).to_string().into_bytes(),
            self.channel.clone().into_bytes(),
            message(b'f', key),
        ];
        let keys = [self.value_key(key), self.lease_key(key)];
        let filled: i64 = self.redis.eval(&FILL, &keys, &args).await?;
        Ok(filled == 1)
    }

    /// Drops `token`'s lease of `key` without a fill, and tells the waiters.
    pub(super) async fn release(&self, key: &str, token: &str) -> Result<bool, RedisError> {
        let args = [
            token.as_bytes().to_vec(),
            self.channel.clone().into_bytes(),
            message(b'r', key),
        ];
        let released: i64 = self
            .redis
            .eval(&RELEASE, &[self.lease_key(key)], &args)
            .await?;
        Ok(released == 1)
    }

    /// Deletes the value and lease of `key` and tells every instance to drop it from L1.
    pub(super) async fn invalidate(&self, key: &str) -> Result<(), RedisError> {
        let args = [self.channel.clone().into_bytes(), message(b'i', key)];
        let keys = [self.value_key(key), self.lease_key(key)];
        let _: i64 = self.redis.eval(&INVALIDATE, &keys, &args).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse_back() {
        assert_eq!(
            Event::parse(&message(b'f', "a:b")),
            Some(Event::Filled("a:b"))
        );
        assert_eq!(Event::parse(&message(b'r', "")), Some(Event::Released("")));
        assert_eq!(
            Event::parse(&message(b'i', "é")),
            Some(Event::Invalidated("é"))
        );
        assert_eq!(Event::parse(b"cx"), None);
        assert_eq!(Event::parse(b""), None);
        assert_eq!(Event::parse(b"f\xff"), None);
        assert_eq!(Event::parse(b"zkey"), None);
    }

    #[test]
    fn millis_never_rounds_to_zero() {
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
    }
}
