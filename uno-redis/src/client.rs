//! [`Redis`]: the shared client handle every component talks through.
//!
//! # Implementation notes
//!
//! - **One multiplexed connection** per client, shared by every clone and every component:
//!   commands from concurrent callers are pipelined on it, so 64 callers cost one socket.
//! - **Reconnection runs in the background**, on uno's runtime, through the configured
//!   [`Retry`]: a call that finds the connection broken starts (or joins) one reconnection round
//!   and waits for it within its own timeout. Once an attempt of the round has failed, further
//!   calls fail at once with that error instead of queueing behind the backoff, so a component
//!   that fails open falls back without waiting out its timeout on every call.
//! - **Every call is bounded** by the call timeout through uno's [`Runtime`] timer (waiting for
//!   the connection included); redis-rs' own timers are switched off, so one clock rules.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use event_listener::Event;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, FromRedisValue, Script, ToRedisArgs};
use uno_core::Runtime;
use uno_core::resilience::{Backoff, Retry};
use uno_core::task::Task;

use crate::error::{ConfigError, RedisError};
use crate::observe::event;
use crate::subscription::Subscription;

/// The longest call or connect timeout accepted (longer ones are a [`ConfigError::TooLong`]).
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// A cheap-to-clone handle to one Redis server, shared by the crate's components.
///
/// Built by [`Redis::builder`]. Every call has a timeout through uno's [`Runtime`], and a broken
/// connection is re-established in the background with the backoff of a uno [`Retry`]. Clones
/// share the connection.
///
/// # Examples
///
/// ```
/// # uno_smol::block_on(async {
/// use std::time::Duration;
/// use uno_redis::Redis;
///
/// let rt = uno_smol::runtime();
/// let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
/// let built = Redis::builder(&rt, &url)
///     .name("sessions")
///     .call_timeout(Duration::from_millis(500))
///     .build()
///     .await;
/// let Ok(redis) = built else { return }; // no Redis here: nothing to show
/// assert_eq!(redis.name(), "sessions");
/// # });
/// ```
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    rt: Runtime,
    name: Arc<str>,
    client: Client,
    call_timeout: Duration,
    connect_timeout: Duration,
    reconnect: Retry<RedisError>,
    slot: Mutex<Slot>,
    connects: AtomicU64,
    failed_connects: AtomicU64,
    scripts_loaded: AtomicU64,
    /// Notified whenever `slot` changes: a connection installed, an attempt failed, a round ended.
    changed: Event,
}

#[derive(Default)]
struct Slot {
    /// The live connection and its generation (bumped on every install).
    conn: Option<(u64, MultiplexedConnection)>,
    generation: u64,
    /// The reconnection round in progress, if any (cancelled when the last handle goes).
    reconnecting: Option<Task<()>>,
    /// The last failed attempt of the current round: later callers fail with it at once.
    last_error: Option<RedisError>,
}

/// Builds a [`Redis`] client; from [`Redis::builder`].
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct RedisBuilder {
    rt: Runtime,
    url: String,
    name: Option<Arc<str>>,
    call_timeout: Duration,
    connect_timeout: Duration,
    reconnect: Option<Retry<RedisError>>,
}

impl Redis {
    /// A builder for a client of the server at `url` (`redis://[user:password@]host:port[/db]`).
    /// Defaults: name `"redis"`, a 1 s call timeout, a 1 s connect timeout, and reconnection in
    /// rounds of 5 attempts backing off exponentially from 50 ms to 2 s.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// use uno_redis::{ConfigError, Redis, RedisError};
    ///
    /// let rt = uno_smol::runtime();
    /// let err = Redis::builder(&rt, "postgres://nope").build().await.unwrap_err();
    /// assert!(matches!(err, RedisError::Config(ConfigError::InvalidUrl { .. })));
    /// # });
    /// ```
    pub fn builder(rt: &Runtime, url: &str) -> RedisBuilder {
        RedisBuilder {
            rt: rt.clone(),
            url: url.to_owned(),
            name: None,
            call_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            reconnect: None,
        }
    }

    /// The client's name (in errors, metrics and events).
    ///
    /// # Examples
    ///
    /// See [`Redis`].
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The runtime the client was built with.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// let Ok(redis) = uno_redis::Redis::builder(&rt, &url).build().await else { return };
    /// let _later = redis.runtime().now();
    /// # });
    /// ```
    pub fn runtime(&self) -> &Runtime {
        &self.inner.rt
    }

    /// The timeout of every call.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// let Ok(redis) = uno_redis::Redis::builder(&rt, &url).build().await else { return };
    /// assert_eq!(redis.call_timeout(), std::time::Duration::from_secs(1));
    /// # });
    /// ```
    pub fn call_timeout(&self) -> Duration {
        self.inner.call_timeout
    }

    /// Whether a connection is up right now (without asking the server).
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// let Ok(redis) = uno_redis::Redis::builder(&rt, &url).build().await else { return };
    /// assert!(redis.is_connected()); // `build` connects
    /// # });
    /// ```
    pub fn is_connected(&self) -> bool {
        self.inner.slot().conn.is_some()
    }

    /// Runs one command, within the call timeout.
    ///
    /// # Errors
    ///
    /// [`RedisError::Timeout`], [`RedisError::Connection`] (a reconnection is under way),
    /// [`RedisError::Server`] for an error reply, [`RedisError::Response`] for a reply of
    /// another type than `T`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the reply; the command may still run on the server.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, RedisError> {
        self.bounded(async {
            let (generation, mut conn) = self.connection().await?;
            let out = cmd.query_async(&mut conn).await;
            self.check(generation, out)
        })
        .await
    }

    /// Runs `script` by its SHA1 (`EVALSHA`), loading it once (`SCRIPT LOAD`) when the server
    /// does not know it (`NOSCRIPT`: first use, a restart, a `SCRIPT FLUSH`), all within one call
    /// timeout.
    ///
    /// # Errors
    ///
    /// As [`query`](Self::query); a script error is a [`RedisError::Server`].
    ///
    /// # Cancel safety
    ///
    /// As [`query`](Self::query): the script may still run on the server.
    pub(crate) async fn eval<T, K, A>(
        &self,
        script: &Script,
        keys: &[K],
        args: A,
    ) -> Result<T, RedisError>
    where
        T: FromRedisValue,
        K: ToRedisArgs,
        A: ToRedisArgs,
    {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash())
            .arg(keys.len())
            .arg(keys)
            .arg(args);
        self.bounded(async {
            let (generation, mut conn) = self.connection().await?;
            let first = cmd.query_async(&mut conn).await;
            match first {
                Err(err) if err.code() == Some("NOSCRIPT") => {
                    let loaded = script.load_async(&mut conn).await;
                    self.check(generation, loaded)?;
                    self.inner.scripts_loaded.fetch_add(1, Ordering::Relaxed);
                    let again = cmd.query_async(&mut conn).await;
                    self.check(generation, again)
                }
                other => self.check(generation, other),
            }
        })
        .await
    }

    /// Opens a dedicated pub/sub connection subscribed to `channels`: a
    /// [`Stream`](futures_core::Stream) of their messages, which ends when that connection is
    /// lost (subscribe again to resume; messages published meanwhile are not replayed).
    ///
    /// # Errors
    ///
    /// [`RedisError::Timeout`] or [`RedisError::Connection`] if the connection or the
    /// subscription could not be made within the call timeout.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the half-made connection.
    #[allow(dead_code)] // used by the cache (`redis-cache`); tested in tests/client.rs
    pub(crate) async fn subscribe(&self, channels: &[&str]) -> Result<Subscription, RedisError> {
        let inner = &self.inner;
        self.bounded(async {
            let mut pubsub = inner
                .client
                .get_async_pubsub()
                .await
                .map_err(|e| RedisError::from_driver(&inner.name, e))?;
            for channel in channels {
                pubsub
                    .subscribe(*channel)
                    .await
                    .map_err(|e| RedisError::from_driver(&inner.name, e))?;
            }
            Ok(Subscription::new(pubsub.into_on_message()))
        })
        .await
    }

    /// Runs `fut` within the call timeout.
    async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, RedisError> {
        let inner = &self.inner;
        match inner
            .rt
            .timeout(inner.call_timeout, "redis call", fut)
            .await
        {
            Ok(out) => out,
            Err(_) => Err(RedisError::Timeout {
                name: inner.name.clone(),
                after: inner.call_timeout,
            }),
        }
    }

    /// Sorts a driver result; a broken connection is dropped so the next call reconnects.
    fn check<T>(&self, generation: u64, out: redis::RedisResult<T>) -> Result<T, RedisError> {
        out.map_err(|err| {
            let err = RedisError::from_driver(&self.inner.name, err);
            if matches!(err, RedisError::Connection { .. }) {
                let mut slot = self.inner.slot();
                if slot.conn.as_ref().is_some_and(|(g, _)| *g == generation) {
                    slot.conn = None;
                    slot.last_error = None;
                }
            }
            err
        })
    }

    /// The live connection, or waits for the reconnection round (started if none runs).
    async fn connection(&self) -> Result<(u64, MultiplexedConnection), RedisError> {
        loop {
            let listener = {
                let mut slot = self.inner.slot();
                if let Some((generation, conn)) = &slot.conn {
                    return Ok((*generation, conn.clone()));
                }
                if let Some(err) = &slot.last_error {
                    return Err(err.clone());
                }
                let listener = self.inner.changed.listen();
                if slot.reconnecting.is_none() {
                    slot.reconnecting = Some(self.inner.spawn_reconnect(&self.inner));
                }
                listener
            };
            listener.await;
        }
    }

    /// A snapshot of the client's counters (shared by its clones).
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// let Ok(redis) = uno_redis::Redis::builder(&rt, &url).build().await else { return };
    /// let stats = redis.stats();
    /// assert_eq!((stats.connects, stats.scripts_loaded), (1, 0));
    /// # });
    /// ```
    pub fn stats(&self) -> RedisStats {
        let inner = &*self.inner;
        RedisStats {
            connects: inner.connects.load(Ordering::Relaxed),
            failed_connects: inner.failed_connects.load(Ordering::Relaxed),
            scripts_loaded: inner.scripts_loaded.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    fn slot(&self) -> MutexGuard<'_, Slot> {
        // The lock guards plain data and no code that can panic runs under it.
        self.slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One round of reconnection attempts through the `Retry`, on the client's runtime. Holds
    /// only a weak reference, so a client whose handles are gone stops reconnecting.
    fn spawn_reconnect(&self, this: &Arc<Inner>) -> Task<()> {
        let weak = Arc::downgrade(this);
        let retry = self.reconnect.clone();
        self.rt.spawn(async move {
            let attempt = || {
                let weak = weak.clone();
                async move {
                    let Some(inner) = weak.upgrade() else {
                        return Ok(None);
                    };
                    match inner.connect_once().await {
                        Ok(conn) => Ok(Some(conn)),
                        Err(err) => {
                            event!(warn, name = %inner.name, error = %err, "redis connection attempt failed");
                            inner.slot().last_error = Some(err.clone());
                            inner.changed.notify(usize::MAX);
                            Err(err)
                        }
                    }
                }
            };
            let outcome = retry.run(attempt).await;
            if let Some(inner) = Weak::upgrade(&weak) {
                let mut slot = inner.slot();
                if let Ok(Some(conn)) = outcome {
                    event!(info, name = %inner.name, "redis reconnected");
                    slot.generation += 1;
                    slot.conn = Some((slot.generation, conn));
                }
                // The round is over: the next call after a failed round starts a new one.
                slot.last_error = None;
                // Detach ourselves: dropping our own handle from inside would cancel us.
                if let Some(task) = slot.reconnecting.take() {
                    task.detach();
                }
                drop(slot);
                inner.changed.notify(usize::MAX);
            }
        })
    }

    async fn connect_once(&self) -> Result<MultiplexedConnection, RedisError> {
        // redis-rs' own timers are off: uno's timer bounds the attempt.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(None)
            .set_response_timeout(None);
        let connect = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        let out = match self
            .rt
            .timeout(self.connect_timeout, "redis connect", connect)
            .await
        {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(err)) => Err(RedisError::from_driver(&self.name, err)),
            Err(_) => Err(RedisError::Timeout {
                name: self.name.clone(),
                after: self.connect_timeout,
            }),
        };
        let counter = match out {
            Ok(_) => &self.connects,
            Err(_) => &self.failed_connects,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        out
    }
}

/// A snapshot of a [`Redis`] client's counters; from [`Redis::stats`].
///
/// # Examples
///
/// See [`Redis::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Connections established (the first one by `build`, then one per reconnection).
    pub connects: u64,
    /// Connection attempts that failed or timed out.
    pub failed_connects: u64,
    /// Scripts loaded (`SCRIPT LOAD`) after the server answered `NOSCRIPT`.
    pub scripts_loaded: u64,
}

impl RedisBuilder {
    /// Names the client, for its errors, metrics and events. Default: `"redis"`.
    ///
    /// # Examples
    ///
    /// See [`Redis`].
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The timeout of every call, waiting for a connection included (at most an hour).
    /// Default: 1 s.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// use std::time::Duration;
    /// use uno_redis::{ConfigError, Redis, RedisError};
    ///
    /// let rt = uno_smol::runtime();
    /// let url = "redis://127.0.0.1:6379";
    /// let err = Redis::builder(&rt, url).call_timeout(Duration::MAX).build().await.unwrap_err();
    /// assert!(matches!(err, RedisError::Config(ConfigError::TooLong { .. })));
    /// let err = Redis::builder(&rt, url).call_timeout(Duration::ZERO).build().await.unwrap_err();
    /// assert!(matches!(err, RedisError::Config(ConfigError::Zero { .. })));
    /// # });
    /// ```
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The timeout of one connection attempt (at most an hour). Default: 1 s.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// use std::time::Duration;
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// let quick = uno_redis::Redis::builder(&rt, &url).connect_timeout(Duration::from_millis(200));
    /// let Ok(_redis) = quick.build().await else { return };
    /// # });
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The policy of one reconnection round (attempts and backoff). A round starts when a call
    /// finds the connection broken; when it gives up, the next call starts another. `build`
    /// connects through it too.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, Retry};
    /// use uno_redis::Redis;
    ///
    /// let rt = uno_smol::runtime();
    /// let patient = Retry::builder(&rt)
    ///     .max_attempts(10)
    ///     .backoff(Backoff::exponential(Duration::from_millis(20), 2.0).max_delay(Duration::from_secs(1)))
    ///     .build()
    ///     .unwrap();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// let Ok(_redis) = Redis::builder(&rt, &url).reconnect(patient).build().await else { return };
    /// # });
    /// ```
    pub fn reconnect(mut self, retry: Retry<RedisError>) -> Self {
        self.reconnect = Some(retry);
        self
    }

    /// Checks the configuration and connects (through the reconnection policy).
    ///
    /// # Errors
    ///
    /// [`RedisError::Config`] for a bad URL ([`ConfigError::InvalidUrl`]) or a zero or too long
    /// timeout; [`RedisError::Connection`] or [`RedisError::Timeout`] if the server could not be
    /// reached within the reconnection policy's attempts.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the connection attempt; nothing is left running.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, Retry};
    /// use uno_redis::Redis;
    ///
    /// let rt = uno_smol::runtime();
    /// let once = Retry::builder(&rt).max_attempts(1).build().unwrap();
    /// // Port 1 is closed: the connection is refused, and `build` says so.
    /// let err = Redis::builder(&rt, "redis://127.0.0.1:1").reconnect(once).build().await;
    /// assert!(err.unwrap_err().is_unavailable());
    /// # });
    /// ```
    pub async fn build(self) -> Result<Redis, RedisError> {
        for (what, timeout) in [
            ("redis call timeout", self.call_timeout),
            ("redis connect timeout", self.connect_timeout),
        ] {
            if timeout.is_zero() {
                return Err(ConfigError::Zero { what }.into());
            }
            if timeout > MAX_TIMEOUT {
                return Err(ConfigError::TooLong {
                    what,
                    max: MAX_TIMEOUT,
                }
                .into());
            }
        }
        let client = Client::open(self.url.as_str()).map_err(|e| ConfigError::InvalidUrl {
            reason: e.to_string(),
        })?;
        let reconnect = match self.reconnect {
            Some(retry) => retry,
            None => Retry::builder(&self.rt)
                .name("redis reconnect")
                .max_attempts(5)
                .backoff(
                    Backoff::exponential(Duration::from_millis(50), 2.0)
                        .max_delay(Duration::from_secs(2)),
                )
                .build()
                .map_err(|_| ConfigError::Inconsistent {
                    what: "the default reconnection policy",
                })?,
        };
        let inner = Arc::new(Inner {
            rt: self.rt,
            name: self.name.unwrap_or_else(|| Arc::from("redis")),
            client,
            call_timeout: self.call_timeout,
            connect_timeout: self.connect_timeout,
            reconnect,
            slot: Mutex::new(Slot::default()),
            connects: AtomicU64::new(0),
            failed_connects: AtomicU64::new(0),
            scripts_loaded: AtomicU64::new(0),
            changed: Event::new(),
        });
        let conn = inner
            .reconnect
            .run(|| inner.connect_once())
            .await
            .map_err(|err| match err.into_inner() {
                Some(err) => err,
                None => RedisError::Timeout {
                    name: inner.name.clone(),
                    after: inner.connect_timeout,
                },
            })?;
        {
            let mut slot = inner.slot();
            slot.generation = 1;
            slot.conn = Some((1, conn));
        }
        Ok(Redis { inner })
    }
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("name", &self.inner.name)
            .field("call_timeout", &self.inner.call_timeout)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RedisBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBuilder")
            .field("name", &self.name)
            .field("call_timeout", &self.call_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_lite::StreamExt;

    use super::*;

    fn url() -> Option<String> {
        let url = std::env::var("UNO_TEST_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty());
        if url.is_none() {
            println!("skipped: UNO_TEST_REDIS_URL is not set");
        }
        url
    }

    #[test]
    fn eval_loads_an_unknown_script_once_and_subscribe_streams_messages() {
        let Some(url) = url() else { return };
        uno_smol::block_on(async {
            let rt = uno_smol::runtime();
            let redis = Redis::builder(&rt, &url).build().await.unwrap();
            // A body no server has seen: its SHA1 is unknown, so the first EVALSHA is NOSCRIPT.
            let body = format!("-- {}\nreturn ARGV[1] + 1", fastrand::u64(..));
            let script = Script::new(&body);
            let keys: [&str; 0] = [];
            let two: i64 = redis.eval(&script, &keys, 1).await.unwrap();
            assert_eq!(two, 2);
            let three: i64 = redis.eval(&script, &keys, 2).await.unwrap();
            assert_eq!(three, 3);
            assert_eq!(redis.stats().scripts_loaded, 1);

            let channel = format!("uno-test:client:{}", fastrand::u64(..));
            let mut messages = redis.subscribe(&[&channel]).await.unwrap();
            let published: i64 = redis
                .query(redis::cmd("PUBLISH").arg(&channel).arg("hello"))
                .await
                .unwrap();
            assert_eq!(published, 1);
            let message = rt
                .timeout(Duration::from_secs(5), "message", messages.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(message.get_channel_name(), channel);
            assert_eq!(message.get_payload::<String>().unwrap(), "hello");
        });
    }

    #[test]
    fn a_call_timeout_is_typed_and_bounded() {
        let Some(url) = url() else { return };
        uno_smol::block_on(async {
            let rt = uno_smol::runtime();
            let redis = Redis::builder(&rt, &url)
                .name("slow")
                .call_timeout(Duration::from_millis(100))
                .build()
                .await
                .unwrap();
            // BLPOP on an empty key blocks this connection (only) for 1 s: our timer gives up
            // after 100 ms.
            let key = format!("uno-test:client-timeout:{}", fastrand::u64(..));
            let started = rt.now();
            let mut blpop = redis::cmd("BLPOP");
            blpop.arg(&key).arg(1);
            let err = redis
                .query::<Option<(String, String)>>(&blpop)
                .await
                .unwrap_err();
            assert!(err.is_timeout(), "{err:?}");
            assert_eq!(err.to_string(), "redis `slow`: no reply within 100ms");
            assert!(rt.now() - started < Duration::from_secs(2));
        });
    }
}
