//! Loads and refreshes through L2: the cross-process single-flight protocol.
//!
//! # Implementation notes
//!
//! One load of a key runs per process at a time: L1 (uno's `AsyncCache`) single-flights the
//! misses of a process, and runs [`load`] in a task of its own, so a reader's cancellation or
//! panic never touches it. Across processes:
//!
//! 1. **Look**: `GET` the value. Found: decode, done.
//! 2. **Lease**: one script looks again and, still no value, does `SET lease token NX PX
//!    lease_ttl` (atomically: a fill that lands between a plain look and the `SET NX` would
//!    otherwise let a second instance fetch). Won: this process is the filler (step 4).
//! 3. **Wait**: someone else fills. Registered for the key's fill notice *before* step 1 (see
//!    `notices`), the load sleeps until a notice (`filled`, `released`, `invalidated`) or one
//!    `poll_interval`, then starts over at 1. A holder that died stops renewing its lease, which
//!    expires within `lease_ttl`, and the next poll's step 2 takes it over. The whole of 1–3 runs
//!    under the `wait_timeout` deadline: a hard bound.
//! 4. **Fill**: the fetch runs while a companion renews the lease every `lease_ttl / 3`; its
//!    value is encoded and written by one script that checks the lease is still this token's
//!    (fencing), deletes it and publishes `filled`. A fetch error, an encode error or a panic
//!    releases the lease (publishing `released`, so waiters try at once).
//!
//! **No lease leaks.** The lease is owned by a [`LeaseGuard`] made *before* `SET NX` is sent; if
//! the load is dropped at any await point (the executor dropped its task, the deadline fired
//! mid-call) or unwinds from a panicking fetch, the guard's `Drop` spawns the release. A
//! release that cannot reach Redis leaves the lease to expire by its TTL.
//!
//! **Refresh-ahead, once.** A refresh (L1's `refresh_after` window opened) skips the plain look;
//! its step 2 takes the value only if it is younger than `refresh_after` (age = `ttl - PTTL`:
//! another instance refreshed it), else the lease; a loser waits for the winner's fill. So one instance
//! fetches per refresh window, not each.
//!
//! **Failure policy.** A Redis call that cannot be made (timeout, no connection) marks Redis down
//! for `recheck_after` (see `health`); meanwhile and then, a fail-open load fetches directly
//! (`fallbacks`), a fail-closed one answers [`TwoLevelError::Redis`]. Once the fetch has run, its
//! value is returned whatever Redis does next: a failed fill only costs the other instances
//! their own fetch.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use event_listener::Event;
use futures_lite::future;
use uno_core::Runtime;
use uno_core::time::deadline_after;

use super::error::TwoLevelError;
use super::health::Health;
use super::l2::{Acquired, L2};
use super::notices::FillNotices;
use super::stats::{Counters, bump};
use crate::codec::Codec;
use crate::{FailurePolicy, RedisError};

/// The settings a cache runs by, checked by the builder.
#[derive(Debug, Clone)]
pub(super) struct Config {
    pub(super) refresh_after: Option<Duration>,
    pub(super) lease_ttl: Duration,
    pub(super) poll_interval: Duration,
    pub(super) wait_timeout: Duration,
    pub(super) policy: FailurePolicy,
}

/// What every clone of one cache shares with its loads and its subscriber task.
#[derive(Debug)]
pub(super) struct Shared<C> {
    pub(super) name: Arc<str>,
    pub(super) rt: Runtime,
    pub(super) l2: L2,
    pub(super) codec: C,
    pub(super) config: Config,
    pub(super) counters: Counters,
    pub(super) notices: FillNotices,
    pub(super) health: Health,
    /// Whether the invalidation subscription is live.
    pub(super) subscribed: AtomicBool,
    /// Set (and `closed` notified) when the last handle is dropped: the subscriber task ends.
    pub(super) closing: AtomicBool,
    pub(super) closed: Event,
}

/// Why a step through L2 stopped short of a value.
enum Failure<E> {
    /// Redis failed before the fetch ran: the failure policy decides.
    Redis(RedisError),
    /// Final: returned as it is.
    Final(TwoLevelError<E>),
}

impl<E> From<RedisError> for Failure<E> {
    fn from(err: RedisError) -> Self {
        Failure::Redis(err)
    }
}

/// What the look-lease-wait phase ends with.
enum Found<V> {
    Value(V),
    /// This load holds the lease (and took it over from a silent holder if `takeover`).
    Lead(LeaseGuard, bool),
}

impl<C> Shared<C> {
    pub(super) fn redis_failed(&self, err: &RedisError) {
        bump(&self.counters.redis_errors);
        self.health.failed(self.rt.now(), err);
    }

    fn codec_error<E>(&self, source: crate::codec::CodecError) -> TwoLevelError<E> {
        TwoLevelError::Codec {
            name: self.name.clone(),
            source,
        }
    }
}

/// Loads `key` (or refreshes it, if `refresh`): from Redis, from another instance's fill, or by
/// running `fetch` under the key's lease.
pub(super) async fn load<V, E, C, F, Fut>(
    shared: Arc<Shared<C>>,
    key: String,
    fetch: F,
    refresh: bool,
) -> Result<V, TwoLevelError<E>>
where
    C: Codec<V>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<V, E>>,
{
    let mut fetch = Some(fetch);
    let failure = match shared.health.down_at(shared.rt.now()) {
        Some(err) => err,
        None => match through_l2(&shared, &key, &mut fetch, refresh).await {
            Ok(value) => return Ok(value),
            Err(Failure::Final(err)) => return Err(err),
            Err(Failure::Redis(err)) => {
                shared.redis_failed(&err);
                err
            }
        },
    };
    match (shared.config.policy, fetch.take()) {
        (FailurePolicy::FailOpen, Some(fetch)) if failure.is_unavailable() => {
            bump(&shared.counters.fallbacks);
            fetch().await.map_err(|error| TwoLevelError::Fetch {
                name: shared.name.clone(),
                error: Arc::new(error),
            })
        }
        _ => Err(TwoLevelError::Redis {
            name: shared.name.clone(),
            source: failure,
        }),
    }
}

async fn through_l2<V, E, C, F, Fut>(
    shared: &Arc<Shared<C>>,
    key: &str,
    fetch: &mut Option<F>,
    refresh: bool,
) -> Result<V, Failure<E>>
where
    C: Codec<V>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<V, E>>,
{
    let rt = &shared.rt;
    let started = rt.now();
    let deadline = deadline_after(started, shared.config.wait_timeout);
    let found = rt
        .timeout_at(deadline, "", look_lease_wait(shared, key, refresh))
        .await;
    let (guard, takeover) = match found {
        Ok(Ok(Found::Value(value))) => return Ok(value),
        Ok(Ok(Found::Lead(guard, takeover))) => (guard, takeover),
        Ok(Err(failure)) => return Err(failure),
        Err(_) => {
            return Err(Failure::Final(TwoLevelError::WaitTimedOut {
                name: shared.name.clone(),
                after: rt.now().saturating_duration_since(started),
            }));
        }
    };
    let Some(fetch) = fetch.take() else {
        unreachable!("a load fetches at most once, after it took the lease")
    };
    bump(&shared.counters.fetches);
    if takeover {
        bump(&shared.counters.takeovers);
    }
    fill(shared, key, guard, fetch)
        .await
        .map_err(Failure::Final)
}

/// Steps 1–3: a value, or the lease. Waiters (`waited`) look with step 2 only.
async fn look_lease_wait<V, E, C>(
    shared: &Arc<Shared<C>>,
    key: &str,
    refresh: bool,
) -> Result<Found<V>, Failure<E>>
where
    C: Codec<V>,
{
    let l2 = &shared.l2;
    let registration = shared.notices.register(key);
    // A refresh only takes a value another instance refreshed within the window.
    let max_age = if refresh {
        shared.config.refresh_after
    } else {
        None
    };
    let mut waited = false;
    loop {
        // Listening before looking: a fill published after the look still wakes the wait.
        let notice = registration.listen();
        // A miss's first look is a plain GET: the L2 hit path costs what a GET costs.
        let plain = if refresh || waited {
            None
        } else {
            l2.get(key).await?
        };
        let acquired = match plain {
            Some(bytes) => Acquired::Value(bytes),
            None => {
                if !waited && !refresh {
                    bump(&shared.counters.l2_misses);
                }
                // The guard exists before the lease is asked for: dropped mid-call, it still
                // releases.
                let mut guard = LeaseGuard::new(shared, key);
                match l2
                    .acquire(key, &guard.token, shared.config.lease_ttl, max_age)
                    .await?
                {
                    Acquired::Lease => return Ok(Found::Lead(guard, waited)),
                    other => {
                        guard.disarm();
                        other
                    }
                }
            }
        };
        if let Acquired::Value(bytes) = acquired {
            bump(if refresh {
                &shared.counters.refreshes_shared
            } else {
                &shared.counters.l2_hits
            });
            let value = shared
                .codec
                .decode(&bytes)
                .map_err(|err| Failure::Final(shared.codec_error(err)))?;
            return Ok(Found::Value(value));
        }
        if !waited {
            bump(&shared.counters.waits);
            waited = true;
        }
        future::or(notice, shared.rt.sleep(shared.config.poll_interval)).await;
    }
}

/// Step 4: runs the fetch under the lease, fills Redis, releases on failure.
async fn fill<V, E, C, F, Fut>(
    shared: &Arc<Shared<C>>,
    key: &str,
    mut guard: LeaseGuard,
    fetch: F,
) -> Result<V, TwoLevelError<E>>
where
    C: Codec<V>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<V, E>>,
{
    // A panic in `fetch` (the call or a poll) unwinds through here: the guard releases.
    let fetched = future::or(fetch(), keep_lease(shared, key, &guard.token)).await;
    let value = match fetched {
        Ok(value) => value,
        Err(error) => {
            guard.release().await;
            return Err(TwoLevelError::Fetch {
                name: shared.name.clone(),
                error: Arc::new(error),
            });
        }
    };
    let bytes = match shared.codec.encode(&value) {
        Ok(bytes) => bytes,
        Err(err) => {
            guard.release().await;
            return Err(shared.codec_error(err));
        }
    };
    match shared.l2.fill(key, &guard.token, bytes).await {
        Ok(true) => guard.disarm(),
        Ok(false) => {
            // Invalidated meanwhile, or the lease was lost: the value must not reach Redis.
            bump(&shared.counters.fills_refused);
            guard.disarm();
        }
        // The guard stays armed: its drop tries the release, else the lease expires.
        Err(err) => shared.redis_failed(&err),
    }
    Ok(value)
}

/// Renews the lease every third of its ttl while the fetch runs; never completes (once the
/// lease is lost, it just stops renewing).
async fn keep_lease<C, T>(shared: &Shared<C>, key: &str, token: &str) -> T {
    let every = shared.config.lease_ttl / 3;
    loop {
        shared.rt.sleep(every).await;
        match shared.l2.renew(key, token, shared.config.lease_ttl).await {
            Ok(true) => {}
            Ok(false) => break,
            // Try again next time; if Redis stays away the lease expires and someone takes
            // over, which is what a dead holder looks like anyway.
            Err(err) => shared.redis_failed(&err),
        }
    }
    std::future::pending().await
}

/// A lease this load may hold: released (in a spawned task) when dropped armed.
struct LeaseGuard {
    l2: L2,
    rt: Runtime,
    key: String,
    token: String,
    armed: bool,
}

impl LeaseGuard {
    fn new<C>(shared: &Shared<C>, key: &str) -> Self {
        LeaseGuard {
            l2: shared.l2.clone(),
            rt: shared.rt.clone(),
            key: key.to_owned(),
            // Fencing: only this token's fill, renewal or release touches the lease.
            token: format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }

    /// Releases now (and tells the waiters); on failure the drop tries again in the background.
    async fn release(&mut self) {
        if self.l2.release(&self.key, &self.token).await.is_ok() {
            self.armed = false;
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (l2, key, token) = (
            self.l2.clone(),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.token),
        );
        self.rt
            .spawn(async move {
                let _ = l2.release(&key, &token).await;
            })
            .detach();
    }
}

impl std::fmt::Debug for LeaseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseGuard")
            .field("armed", &self.armed)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::load;
    use crate::cache::TwoLevelCache;
    use crate::{JsonCodec, Redis};

    /// The load itself (not a reader: the future L1's single flight drives) dropped after each
    /// number of polls, wherever it was: before its lease request, during it, holding the lease
    /// during the fetch, during the fill, while waiting. No lease and no registration is left behind.
    #[test]
    fn a_load_dropped_at_any_await_point_leaks_no_lease() {
        let Some(url) = std::env::var("UNO_TEST_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            println!("skipped: UNO_TEST_REDIS_URL is not set");
            return;
        };
        let rt = uno_smol::runtime();
        uno_smol::block_on(async {
            let redis = Redis::builder(&rt, &url).build().await.unwrap();
            let name = format!("uno-test:cache:load-drop:{}", std::process::id());
            let cache = TwoLevelCache::<str, String, String, _>::builder(&redis, &name, JsonCodec)
                .lease_ttl(Duration::from_secs(30))
                .build()
                .await
                .unwrap();
            let shared = cache.handle.0.clone();
            let mut conn = redis::Client::open(url.as_str())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            for polls in 0..40 {
                let key = format!("k{polls}");
                let lease = format!("{name}:l:{key}");
                let slow = rt.clone();
                let fetch = move || async move {
                    slow.sleep(Duration::from_millis(20)).await;
                    Ok::<_, String>("v".to_owned())
                };
                let mut future = Box::pin(load(shared.clone(), key.clone(), fetch, false));
                let mut finished = false;
                for _ in 0..polls {
                    if futures_lite::future::poll_once(future.as_mut())
                        .await
                        .is_some()
                    {
                        finished = true;
                        break;
                    }
                    rt.sleep(Duration::from_millis(1)).await;
                }
                drop(future);
                // The release is spawned by the guard's drop: give it a moment.
                let start = rt.now();
                loop {
                    let held: bool = redis::cmd("EXISTS")
                        .arg(&lease)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                    if !held {
                        break;
                    }
                    assert!(
                        rt.now() - start < Duration::from_secs(5),
                        "lease left after {polls} polls"
                    );
                    rt.sleep(Duration::from_millis(5)).await;
                }
                assert_eq!(
                    shared.notices.len(),
                    0,
                    "after {polls} polls (finished: {finished})"
                );
                let _: () = redis::cmd("DEL")
                    .arg(format!("{name}:v:{key}"))
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
        });
    }
}
