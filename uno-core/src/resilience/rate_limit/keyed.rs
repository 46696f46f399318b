//! [`KeyedRateLimiter`]: one GCRA limit per key (per client, per user, per route), in bounded
//! memory.
//!
//! # Implementation notes
//!
//! - **One arrival time per key** ([`step`] on an `i128` under the map's lock): the same exact
//!   maths as [`RateLimiter`](super::RateLimiter).
//! - **A fresh key costs nothing.** A key whose arrival time is not ahead of now has its whole
//!   burst available: exactly the state of a key never seen. Such a key is dropped from the map
//!   by the next sweep, and forgetting it changes no answer.
//! - **Sweeps are amortized**: a new key finding the map at its sweep mark removes every fresh key
//!   (one pass), then sets the mark at twice what is left (at least [`MIN_SWEEP`], at most
//!   `max_keys`). The map holds the keys still owing time plus fewer than as many again.
//! - **At `max_keys`, after a sweep, a new key is refused** (fail closed: no key is ever admitted
//!   above its limit), told to retry when the soonest of the held keys turns fresh.
//! - **Waiters do not queue**: [`KeyedAcquire`] sleeps until its key would admit and tries again,
//!   so a dropped waiter holds and consumes nothing; on one busy key the timer's order decides.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::future::{Future, Ready, ready};
use std::hash::Hash;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::builder::checked_rate;
use super::gcra::{Clock, duration, step};
use super::policy::Metrics;
use crate::loom::Mutex;
use crate::loom::atomic::{AtomicU64, Ordering};
use crate::observe::{Name, event};
use crate::resilience::{ConfigError, LimitError, LocalAcquire, RateLimit, RetryAfter};
use crate::rt::Runtime;
use crate::time::{Sleep, deadline_after};

/// The smallest sweep mark: below it a sweep is not worth a pass.
const MIN_SWEEP: usize = 64;

/// The default bound on keys held at once.
const DEFAULT_MAX_KEYS: usize = 100_000;

/// At most `operations` per `period` for each key, bursts of up to `burst` (GCRA, as
/// [`RateLimiter`](super::RateLimiter)), in bounded memory.
///
/// - [`try_acquire`](Self::try_acquire) answers at once, with the time to wait when refused.
/// - [`acquire`](Self::acquire) waits until its key admits it: it sleeps (on the limiter's
///   [`Runtime`]) until then and tries again, so a waiter dropped early consumes nothing.
///   Waiters on one key are not queued: the one the timer wakes first goes first.
/// - **Idle keys cost nothing.** A key that has recovered its whole burst is in the same state
///   as a key never seen, and is forgotten by the next sweep of the map. Memory is bounded by
///   the keys still owing time (a key used once is fresh again one `interval` later), and by
///   [`max_keys`](KeyedRateLimiterBuilder::max_keys): at that bound, a new key is refused
///   (its `retry_after` is when the soonest held key turns fresh) rather than any key's limit
///   being loosened.
///
/// Clones share the same state.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::KeyedRateLimiter;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// let per_user = KeyedRateLimiter::builder(&rt, 2, Duration::from_secs(1))
///     .name("login")
///     .build()
///     .unwrap();
/// assert!(per_user.try_acquire(&"ann").is_ok());
/// assert!(per_user.try_acquire(&"ann").is_ok()); // ann's burst of 2
/// let refused = per_user.try_acquire(&"ann").unwrap_err();
/// assert_eq!(refused.retry_after, Duration::from_millis(500));
/// assert!(per_user.try_acquire(&"bob").is_ok()); // bob has his own limit
/// vrt.block_on(async {
///     let start = rt.now();
///     per_user.acquire(&"ann").await;
///     assert_eq!(rt.now() - start, Duration::from_millis(500));
/// });
/// ```
pub struct KeyedRateLimiter<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for KeyedRateLimiter<K> {
    fn clone(&self) -> Self {
        KeyedRateLimiter {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<K> {
    rt: Runtime,
    name: Name,
    metrics: Metrics,
    burst: u32,
    /// The emission interval, in nanoseconds and as a `Duration`.
    interval_ns: i128,
    interval: Duration,
    tolerance: i128,
    max_keys: usize,
    /// Where the limiter reads the time (see the GCRA notes).
    clock: Clock,
    keys: Mutex<Keys<K>>,
    admitted: AtomicU64,
    rejected: AtomicU64,
    waited: AtomicU64,
}

/// The keys owing time (and fresh ones not swept yet), with the sweep mark.
struct Keys<K> {
    tats: HashMap<K, i128>,
    sweep_at: usize,
}

impl<K: Hash + Eq> Keys<K> {
    /// Forgets every fresh key (arrival time not ahead of `now`): see the module notes.
    fn sweep(&mut self, now: i128, max_keys: usize) {
        self.tats.retain(|_, tat| *tat > now);
        self.sweep_at = self
            .tats
            .len()
            .saturating_mul(2)
            .max(MIN_SWEEP)
            .min(max_keys);
    }

    /// One admission for `key` at `now`, or the nanoseconds to wait. A new key is held only if
    /// it is admitted.
    fn admit<Q>(&mut self, key: &Q, now: i128, inner: &Inner<K>) -> Result<(), i128>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(tat) = self.tats.get_mut(key) {
            *tat = step(*tat, now, inner.interval_ns, inner.tolerance)?;
            return Ok(());
        }
        if self.tats.len() >= self.sweep_at {
            self.sweep(now, inner.max_keys);
        }
        if self.tats.len() >= inner.max_keys {
            // Fail closed: wait for the soonest held key to turn fresh.
            let soonest = self.tats.values().min().copied().unwrap_or(now);
            return Err((soonest - now).max(1));
        }
        // A key never seen (or forgotten when fresh) is admitted: its burst is at least 1.
        let tat = step(now, now, inner.interval_ns, inner.tolerance)?;
        self.tats.insert(key.to_owned(), tat);
        Ok(())
    }
}

/// A snapshot of a [`KeyedRateLimiter`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyedRateLimiterStats {
    /// Admissions (by `acquire` or `try_acquire`), over every key.
    pub admitted: u64,
    /// `try_acquire` refusals.
    pub rejected: u64,
    /// `acquire` calls that had to wait.
    pub waited: u64,
    /// Keys held right now (owing time, or fresh and not swept yet).
    pub keys: usize,
}

/// Builds a [`KeyedRateLimiter`]; from [`KeyedRateLimiter::builder`].
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct KeyedRateLimiterBuilder<K> {
    rt: Runtime,
    operations: u32,
    period: Duration,
    burst: Option<u32>,
    max_keys: usize,
    name: Option<Arc<str>>,
    key: PhantomData<fn() -> K>,
}

impl<K> Clone for KeyedRateLimiterBuilder<K> {
    fn clone(&self) -> Self {
        KeyedRateLimiterBuilder {
            rt: self.rt.clone(),
            operations: self.operations,
            period: self.period,
            burst: self.burst,
            max_keys: self.max_keys,
            name: self.name.clone(),
            key: PhantomData,
        }
    }
}

impl<K> fmt::Debug for KeyedRateLimiterBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiterBuilder")
            .field("operations", &self.operations)
            .field("period", &self.period)
            .field("burst", &self.burst)
            .field("max_keys", &self.max_keys)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<K> KeyedRateLimiterBuilder<K> {
    /// Names the limiter, for its errors, metrics and events. Default: `"rate_limiter"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::KeyedRateLimiter;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limiter = KeyedRateLimiter::<u64>::builder(&rt, 1, Duration::from_secs(1))
    ///     .name("per-account")
    ///     .build()
    ///     .unwrap();
    /// limiter.try_acquire(&7).unwrap();
    /// assert_eq!(&*limiter.try_acquire(&7).unwrap_err().name, "per-account");
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Admissions a key may take at once after an idle spell (at least 1). Default: `operations`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ConfigError, KeyedRateLimiter};
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let second = Duration::from_secs(1);
    /// let smooth = KeyedRateLimiter::builder(&rt, 10, second).burst(1).build().unwrap();
    /// smooth.try_acquire(&"k").unwrap();
    /// assert_eq!(smooth.try_acquire(&"k").unwrap_err().retry_after, Duration::from_millis(100));
    /// let err = KeyedRateLimiter::<&str>::builder(&rt, 10, second).burst(0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "rate limiter burst" });
    /// ```
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// At most `n` keys held at once (default 100 000); see [`KeyedRateLimiter`] for what
    /// happens at the bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ConfigError, KeyedRateLimiter};
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let second = Duration::from_secs(1);
    /// let two = KeyedRateLimiter::builder(&rt, 1, second).max_keys(2).build().unwrap();
    /// two.try_acquire(&1).unwrap();
    /// two.try_acquire(&2).unwrap();
    /// let full = two.try_acquire(&3).unwrap_err(); // both keys still owe time
    /// assert_eq!(full.retry_after, second);
    /// let err = KeyedRateLimiter::<u8>::builder(&rt, 1, second).max_keys(0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "keyed rate limiter max_keys" });
    /// ```
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// Builds the limiter.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Zero`] for zero operations, a zero period, a zero burst or zero
    /// `max_keys`; [`ConfigError::RateTooHigh`] for more than one operation per nanosecond.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ConfigError, KeyedRateLimiter};
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let err = KeyedRateLimiter::<u8>::builder(&rt, 0, Duration::from_secs(1)).build();
    /// assert_eq!(err.unwrap_err(), ConfigError::Zero { what: "rate limiter operations per period" });
    /// let period = Duration::MAX;
    /// assert!(KeyedRateLimiter::<u8>::builder(&rt, u32::MAX, period).build().is_ok());
    /// ```
    pub fn build(self) -> Result<KeyedRateLimiter<K>, ConfigError> {
        let (interval_ns, burst) = checked_rate(self.operations, self.period, self.burst)?;
        if self.max_keys == 0 {
            return Err(ConfigError::Zero {
                what: "keyed rate limiter max_keys",
            });
        }
        let name = match self.name {
            Some(name) => Name::new(name),
            None => Name::kind("rate_limiter"),
        };
        let metrics = Metrics::new(&name);
        let clock = Clock::of(&self.rt);
        Ok(KeyedRateLimiter {
            inner: Arc::new(Inner {
                rt: self.rt,
                name,
                metrics,
                burst,
                interval_ns,
                interval: duration(interval_ns),
                tolerance: interval_ns * i128::from(burst - 1),
                max_keys: self.max_keys,
                clock,
                keys: Mutex::new(Keys {
                    tats: HashMap::new(),
                    sweep_at: MIN_SWEEP.min(self.max_keys),
                }),
                admitted: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                waited: AtomicU64::new(0),
            }),
        })
    }
}

impl<K> KeyedRateLimiter<K> {
    /// A builder for `operations` per `period` for each key, on `rt`'s clock. The burst defaults
    /// to `operations`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::KeyedRateLimiter;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limiter = KeyedRateLimiter::<String>::builder(&rt, 100, Duration::from_secs(60))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(limiter.interval(), Duration::from_millis(600));
    /// assert_eq!(limiter.burst(), 100);
    /// ```
    pub fn builder(rt: &Runtime, operations: u32, period: Duration) -> KeyedRateLimiterBuilder<K> {
        KeyedRateLimiterBuilder {
            rt: rt.clone(),
            operations,
            period,
            burst: None,
            max_keys: DEFAULT_MAX_KEYS,
            name: None,
            key: PhantomData,
        }
    }

    /// The limiter's name (default `"rate_limiter"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::KeyedRateLimiter;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limiter = KeyedRateLimiter::<u8>::builder(&rt, 1, Duration::from_secs(1)).build();
    /// assert_eq!(limiter.unwrap().name(), "rate_limiter");
    /// ```
    pub fn name(&self) -> &str {
        self.inner.name.as_str()
    }

    /// The configured burst.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::KeyedRateLimiter;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limiter = KeyedRateLimiter::<u8>::builder(&rt, 5, Duration::from_secs(1)).burst(2);
    /// assert_eq!(limiter.build().unwrap().burst(), 2);
    /// ```
    pub fn burst(&self) -> u32 {
        self.inner.burst
    }

    /// The time between two admissions of one key at the sustained rate.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::KeyedRateLimiter;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limiter = KeyedRateLimiter::<u8>::builder(&rt, 4, Duration::from_secs(1)).build();
    /// assert_eq!(limiter.unwrap().interval(), Duration::from_millis(250));
    /// ```
    pub fn interval(&self) -> Duration {
        self.inner.interval
    }

    /// A snapshot of the counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::KeyedRateLimiter;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limiter = KeyedRateLimiter::builder(&rt, 1, Duration::from_secs(1)).build().unwrap();
    /// limiter.try_acquire(&"a").unwrap();
    /// assert!(limiter.try_acquire(&"a").is_err());
    /// let stats = limiter.stats();
    /// assert_eq!((stats.admitted, stats.rejected, stats.keys), (1, 1, 1));
    /// ```
    pub fn stats(&self) -> KeyedRateLimiterStats {
        let inner = &*self.inner;
        KeyedRateLimiterStats {
            admitted: inner.admitted.load(Ordering::Relaxed),
            rejected: inner.rejected.load(Ordering::Relaxed),
            waited: inner.waited.load(Ordering::Relaxed),
            keys: inner.keys.lock().tats.len(),
        }
    }
}

impl<K: Hash + Eq> KeyedRateLimiter<K> {
    /// One admission for `key` at the clock reading `now`, or how long to wait.
    fn admit_at<Q>(&self, key: &Q, now: Instant) -> Result<(), Duration>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let inner = &*self.inner;
        let at = inner.clock.at(now);
        let admitted = inner.keys.lock().admit(key, at, inner);
        match admitted {
            Ok(()) => {
                inner.admitted.fetch_add(1, Ordering::Relaxed);
                inner.metrics.admissions.increment(1);
                Ok(())
            }
            Err(wait) => Err(duration(wait)),
        }
    }

    /// Takes one admission for `key` now, if its limit allows it.
    ///
    /// # Errors
    ///
    /// [`RetryAfter`] with the time until `key` would be admitted.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::KeyedRateLimiter;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let limiter = KeyedRateLimiter::builder(&rt, 1, Duration::from_secs(2)).build().unwrap();
    /// let ip = String::from("10.0.0.1");
    /// assert!(limiter.try_acquire(ip.as_str()).is_ok()); // a `&str` for a `String` key
    /// let refused = limiter.try_acquire(&ip).unwrap_err();
    /// assert_eq!(refused.retry_after, Duration::from_secs(2));
    /// vrt.clock().advance(refused.retry_after);
    /// assert!(limiter.try_acquire(&ip).is_ok());
    /// ```
    pub fn try_acquire<Q>(&self, key: &Q) -> Result<(), RetryAfter>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let inner = &*self.inner;
        self.admit_at(key, inner.rt.now())
            .map_err(|wait| inner.metrics.refused(&inner.name, &inner.rejected, wait))
    }

    /// Waits until `key` is admitted. The future is owned (`'static`): it holds a clone of the
    /// limiter and of the key.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a waiter holds nothing while it waits, so dropping it consumes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::KeyedRateLimiter;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let limiter = KeyedRateLimiter::builder(&rt, 5, Duration::from_secs(1)).burst(1).build();
    /// let limiter = limiter.unwrap();
    /// vrt.block_on(async {
    ///     let start = rt.now();
    ///     for _ in 0..3 {
    ///         limiter.acquire(&42u64).await;
    ///     }
    ///     assert_eq!(rt.now() - start, Duration::from_millis(400)); // 0, 200, 400 ms
    ///     assert_eq!(limiter.stats().waited, 2);
    /// });
    /// ```
    pub fn acquire<Q>(&self, key: &Q) -> KeyedAcquire<K>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        KeyedAcquire {
            limiter: self.clone(),
            key: key.to_owned(),
            sleep: None,
        }
    }
}

impl<K> fmt::Debug for KeyedRateLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("name", &self.inner.name)
            .field("burst", &self.inner.burst)
            .field("interval", &self.inner.interval)
            .field("max_keys", &self.inner.max_keys)
            .finish_non_exhaustive()
    }
}

/// The future returned by [`KeyedRateLimiter::acquire`].
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct KeyedAcquire<K> {
    limiter: KeyedRateLimiter<K>,
    key: K,
    /// Until the key would admit. Allocated only when waiting.
    sleep: Option<Pin<Box<dyn Sleep>>>,
}

// The key is never pinned (the future polls only its boxed sleep).
impl<K> Unpin for KeyedAcquire<K> {}

impl<K: Hash + Eq + Clone> Future for KeyedAcquire<K> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            let inner = &*this.limiter.inner;
            let now = inner.rt.now();
            let wait = match this.limiter.admit_at(&this.key, now) {
                Ok(()) => return Poll::Ready(()),
                Err(wait) => wait,
            };
            let deadline = deadline_after(now, wait);
            match &mut this.sleep {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => {
                    inner.waited.fetch_add(1, Ordering::Relaxed);
                    inner.metrics.waits.increment(1);
                    event!(
                        debug,
                        "uno_core::resilience",
                        name = %inner.name,
                        "waiting for the rate limiter"
                    );
                    this.sleep = Some(inner.rt.sleep_until(deadline));
                }
            }
            let sleep = this.sleep.as_mut().expect("set just above");
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The deadline passed: try again.
        }
    }
}

impl<K> fmt::Debug for KeyedAcquire<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedAcquire")
            .field("name", &self.limiter.name())
            .field("waiting", &self.sleep.is_some())
            .finish_non_exhaustive()
    }
}

/// A limit per key.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::{KeyedRateLimiter, RateLimit};
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
///
/// let limiter = KeyedRateLimiter::builder(&rt, 1, Duration::from_secs(1)).build().unwrap();
/// vrt.block_on(async {
///     RateLimit::acquire(&limiter, 1u32).await.unwrap();
///     assert!(RateLimit::try_acquire(&limiter, 1u32).await.is_err());
///     assert!(RateLimit::try_acquire(&limiter, 2u32).await.is_ok());
/// });
/// ```
impl<K> RateLimit<K> for KeyedRateLimiter<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Acquire = LocalAcquire<KeyedAcquire<K>>;
    type TryAcquire = Ready<Result<(), LimitError>>;

    fn name(&self) -> &str {
        KeyedRateLimiter::name(self)
    }

    fn acquire(&self, key: K) -> Self::Acquire {
        LocalAcquire::new(KeyedAcquire {
            limiter: self.clone(),
            key,
            sleep: None,
        })
    }

    fn try_acquire(&self, key: K) -> Self::TryAcquire {
        ready(KeyedRateLimiter::try_acquire(self, &key).map_err(LimitError::RateLimited))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::VirtualRuntime;

    fn limiter(vrt: &VirtualRuntime, max_keys: usize) -> KeyedRateLimiter<u32> {
        KeyedRateLimiter::builder(&vrt.handle(), 10, Duration::from_secs(1))
            .burst(2)
            .max_keys(max_keys)
            .build()
            .unwrap()
    }

    #[test]
    fn a_fresh_key_is_swept_and_forgetting_it_changes_no_answer() {
        let vrt = VirtualRuntime::new();
        let l = limiter(&vrt, 10_000);
        for key in 0..MIN_SWEEP as u32 {
            l.try_acquire(&key).unwrap();
        }
        assert_eq!(l.stats().keys, MIN_SWEEP);
        // 100 ms later each key is fresh (one admission, one interval): the next new key sweeps.
        vrt.clock().advance(Duration::from_millis(100));
        l.try_acquire(&1_000).unwrap();
        assert_eq!(l.stats().keys, 1, "only the new key is held");
        // A swept key has its whole burst, as before.
        l.try_acquire(&0).unwrap();
        l.try_acquire(&0).unwrap();
        assert_eq!(
            l.try_acquire(&0).unwrap_err().retry_after,
            Duration::from_millis(100)
        );
    }

    #[test]
    fn keys_owing_time_are_kept_and_the_mark_doubles() {
        let vrt = VirtualRuntime::new();
        let l = limiter(&vrt, 10_000);
        for key in 0..MIN_SWEEP as u32 {
            l.try_acquire(&key).unwrap();
        }
        l.try_acquire(&1_000).unwrap(); // sweeps, nothing is fresh
        assert_eq!(l.stats().keys, MIN_SWEEP + 1);
        let mark = l.inner.keys.lock().sweep_at;
        assert_eq!(mark, 2 * MIN_SWEEP);
        // A key still owing time keeps its debt across sweeps.
        l.try_acquire(&0).unwrap();
        assert!(l.try_acquire(&0).is_err());
    }

    #[test]
    fn at_max_keys_a_new_key_is_refused_until_the_soonest_turns_fresh() {
        let vrt = VirtualRuntime::new();
        let l = limiter(&vrt, 2);
        l.try_acquire(&1).unwrap();
        vrt.clock().advance(Duration::from_millis(30));
        l.try_acquire(&2).unwrap();
        let refused = l.try_acquire(&3).unwrap_err();
        assert_eq!(
            refused.retry_after,
            Duration::from_millis(70),
            "key 1 first"
        );
        vrt.clock().advance(refused.retry_after);
        l.try_acquire(&3).unwrap();
        assert_eq!(l.stats().keys, 2, "key 1 was swept for key 3");
        // Existing keys are never refused for the bound.
        l.try_acquire(&2).unwrap();
    }

    #[test]
    fn a_waiter_dropped_early_consumes_nothing() {
        let vrt = VirtualRuntime::new();
        let l = limiter(&vrt, 16);
        l.try_acquire(&1).unwrap();
        l.try_acquire(&1).unwrap();
        let mut waiter = Box::pin(l.acquire(&1));
        let waker = std::task::Waker::noop();
        assert!(
            waiter
                .as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_pending()
        );
        drop(waiter);
        vrt.clock().advance(Duration::from_millis(100));
        l.try_acquire(&1).unwrap();
        assert_eq!(l.stats().admitted, 3);
    }
}
