//! [`Lease`]: one holding of a lease, renewed in the background until released, dropped or lost.
//!
//! # Implementation notes
//!
//! - **Loss is declared early, never late.** The server extends the lease from when it receives
//!   a renewal, which is after we sent it; so the lease lasts at least until the send time of
//!   the last confirmed renewal plus the time to live. The renewal task declares the lease lost
//!   at that instant on our clock if no renewal was confirmed since, or at once when the server
//!   says the value is no longer ours. (Clock drift between hosts is not accounted for: keep
//!   the renewal interval well under the time to live.)
//! - **The `lost` token fires whenever this instance stops holding the lease** (lost, released
//!   or dropped), so work tied to it stops on every path; [`Lease::is_lost`] tells loss apart.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use uno_core::sync::CancellationToken;
use uno_core::task::Task;

use super::config::LeaseConfig;
use super::scripts::{RELEASE, RENEW};
use crate::RedisError;
use crate::observe::event;

/// A held lease: this instance's exclusive right to some work until it is released, dropped or
/// lost, with a fencing token that grows with every acquisition (pass it to the storage the work
/// writes to, so a late write of a former holder can be refused).
///
/// A background task on uno's runtime renews it every renewal interval. Dropping it releases it
/// on a best-effort basis (a detached task runs the release script; if that fails, the lease
/// expires after its time to live); [`release`](Self::release) does it and says whether it was
/// still held.
///
/// # Examples
///
/// See [`LeaseConfig`] and [`lost`](Self::lost).
#[must_use = "dropping a Lease releases it"]
pub struct Lease {
    config: LeaseConfig,
    token: u64,
    value: Arc<str>,
    state: Arc<State>,
    renewal: Option<Task<()>>,
    released: bool,
}

struct State {
    /// Fired when this instance stops holding the lease, for any reason.
    ended: CancellationToken,
    /// Set before `ended` fires when the lease was lost (not released).
    lost: AtomicBool,
}

impl State {
    fn lose(&self) {
        self.lost.store(true, Ordering::Release);
        self.ended.cancel();
    }
}

impl Lease {
    pub(super) fn start(config: LeaseConfig, token: u64, sent_at: Instant) -> Self {
        event!(debug, key = %config.key, token, "lease taken");
        let value: Arc<str> = Arc::from(format!("{}:{token}", config.holder));
        let state = Arc::new(State {
            ended: CancellationToken::new(),
            lost: AtomicBool::new(false),
        });
        let renewal = config.redis.runtime().spawn(renew(
            config.clone(),
            token,
            value.clone(),
            state.clone(),
            sent_at,
        ));
        Lease {
            config,
            token,
            value,
            state,
            renewal: Some(renewal),
            released: false,
        }
    }

    /// The fencing token of this acquisition: larger than every earlier holder's.
    ///
    /// # Examples
    ///
    /// See [`LeaseConfig`].
    pub fn token(&self) -> u64 {
        self.token
    }

    /// Whether the lease was lost (not renewed in time, or taken by another holder after it
    /// expired).
    ///
    /// # Examples
    ///
    /// See [`lost`](Self::lost).
    pub fn is_lost(&self) -> bool {
        self.state.lost.load(Ordering::Acquire)
    }

    /// A token that fires when this instance stops holding the lease: lost, released or
    /// dropped. Hand it (or a child) to the work the lease guards.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// use std::time::Duration;
    /// use uno_redis::{LeaseConfig, Redis};
    ///
    /// let rt = uno_smol::runtime();
    /// let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let config = LeaseConfig::builder(&redis, "uno-doc:lease-lost")
    ///     .ttl(Duration::from_millis(200))
    ///     .build()
    ///     .unwrap();
    /// let lease = config.try_acquire().await.unwrap().unwrap();
    /// let lost = lease.lost();
    /// // Someone deletes the lease behind our back: the next renewal finds out.
    /// # let raw = redis::Client::open(url.as_str()).unwrap();
    /// # let mut raw = raw.get_multiplexed_async_connection().await.unwrap();
    /// let _: i64 = redis::cmd("DEL").arg("uno-doc:lease-lost").query_async(&mut raw).await.unwrap();
    /// lost.cancelled().await;
    /// assert!(lease.is_lost());
    /// assert!(!lease.release().await.unwrap()); // no longer ours
    /// # });
    /// ```
    pub fn lost(&self) -> CancellationToken {
        self.state.ended.clone()
    }

    /// Stops renewing and releases the lease: `true` if it was still held.
    ///
    /// # Errors
    ///
    /// The [`RedisError`] if Redis could not be asked (the lease then expires after its time to
    /// live).
    ///
    /// # Cancel safety
    ///
    /// Renewal stops at once; dropped before the reply, the release may or may not have run
    /// (and the lease expires after its time to live if not).
    ///
    /// # Examples
    ///
    /// See [`LeaseConfig`].
    pub async fn release(mut self) -> Result<bool, RedisError> {
        self.released = true;
        self.renewal = None; // dropping the task cancels the renewal
        let was_lost = self.is_lost();
        self.state.ended.cancel();
        if was_lost {
            return Ok(false);
        }
        release(&self.config, &self.value).await
    }
}

async fn release(config: &LeaseConfig, value: &str) -> Result<bool, RedisError> {
    let done: i64 = config.redis.eval(&RELEASE, &[&*config.key], value).await?;
    Ok(done == 1)
}

/// The renewal loop (see the implementation notes).
async fn renew(
    config: LeaseConfig,
    token: u64,
    value: Arc<str>,
    state: Arc<State>,
    mut confirmed: Instant,
) {
    let rt = config.redis.runtime().clone();
    let ttl_ms = config.ttl.as_millis() as u64; // at most a day: fits
    loop {
        let deadline = confirmed + config.ttl;
        let next = (rt.now() + config.renew_every).min(deadline);
        rt.sleep_until(next).await;
        let sent = rt.now();
        if sent >= deadline {
            break;
        }
        let keys = [&*config.key];
        let renewal = config
            .redis
            .eval::<i64, _, _>(&RENEW, &keys, (&*value, ttl_ms));
        match rt.timeout_at(deadline, "lease renewal", renewal).await {
            Ok(Ok(1)) => confirmed = sent,
            Ok(Ok(_)) => break, // the value is no longer ours
            Ok(Err(_)) => {}    // Redis not reachable: try again until the deadline
            Err(_) => break,    // the deadline passed while asking
        }
    }
    event!(warn, key = %config.key, token, "lease lost");
    let _ = token; // read by the event, with the `tracing` feature
    state.lose();
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        self.renewal = None;
        let was_lost = self.is_lost();
        self.state.ended.cancel();
        if was_lost {
            return;
        }
        // Best effort: a detached release; if it fails, the lease expires after its ttl.
        let (config, value) = (self.config.clone(), self.value.clone());
        let rt = config.redis.runtime().clone();
        rt.spawn(async move {
            let _ = release(&config, &value).await;
        })
        .detach();
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("key", &self.config.key)
            .field("token", &self.token)
            .field("lost", &self.is_lost())
            .finish_non_exhaustive()
    }
}
