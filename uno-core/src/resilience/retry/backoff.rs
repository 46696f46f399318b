//! Backoff schedules and the small seedable random source behind their jitter.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::resilience::ConfigError;
use crate::time::FAR_FUTURE;

/// How long to wait before each retry.
///
/// - [`constant`](Self::constant): the same delay every time;
/// - [`exponential`](Self::exponential): `base × factor^(retry − 1)`, capped by
///   [`max_delay`](Self::max_delay), optionally with [`full_jitter`](Self::full_jitter)
///   (uniform in `[0, delay]`);
/// - [`decorrelated_jitter`](Self::decorrelated_jitter): AWS's "decorrelated jitter", uniform in
///   `[base, min(max, previous × 3)]`.
///
/// Jitter draws from a seedable source (see [`RetryBuilder::seed`](super::RetryBuilder::seed)),
/// so a test can reproduce a schedule exactly. Invalid values (factor below 1 or NaN, base above
/// max) are reported by [`RetryBuilder::build`](super::RetryBuilder::build) or
/// [`validate`](Self::validate).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::Backoff;
///
/// let backoff = Backoff::exponential(Duration::from_millis(100), 2.0)
///     .max_delay(Duration::from_millis(500));
/// let delays: Vec<_> = backoff.delays(0).take(5).collect();
/// let ms = |n| Duration::from_millis(n);
/// assert_eq!(delays, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    kind: Kind,
    max_delay: Option<Duration>,
    full_jitter: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Constant(Duration),
    Exponential { base: Duration, factor: f64 },
    Decorrelated { base: Duration },
}

impl Backoff {
    /// The same `delay` before every retry (zero retries at once).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::Backoff;
    ///
    /// let backoff = Backoff::constant(Duration::from_millis(250));
    /// let delays: Vec<_> = backoff.delays(0).take(3).collect();
    /// assert_eq!(delays, [Duration::from_millis(250); 3]);
    /// ```
    pub fn constant(delay: Duration) -> Self {
        Backoff {
            kind: Kind::Constant(delay),
            max_delay: None,
            full_jitter: false,
        }
    }

    /// `base`, then `base × factor`, `base × factor²`, …; cap it with
    /// [`max_delay`](Self::max_delay). Without a cap, delays saturate at about 30 years.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, ConfigError};
    ///
    /// let backoff = Backoff::exponential(Duration::from_millis(10), 3.0);
    /// let ms: Vec<_> = backoff.delays(0).take(4).map(|d| d.as_millis()).collect();
    /// assert_eq!(ms, [10, 30, 90, 270]);
    /// let shrinking = Backoff::exponential(Duration::from_millis(10), 0.5);
    /// assert_eq!(shrinking.validate(), Err(ConfigError::InvalidFactor { value: 0.5 }));
    /// ```
    pub fn exponential(base: Duration, factor: f64) -> Self {
        Backoff {
            kind: Kind::Exponential { base, factor },
            max_delay: None,
            full_jitter: false,
        }
    }

    /// Decorrelated jitter: each delay uniform in `[base, min(max, previous × 3)]`, starting from
    /// `previous = base`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::Backoff;
    ///
    /// let (base, max) = (Duration::from_millis(100), Duration::from_secs(2));
    /// let backoff = Backoff::decorrelated_jitter(base, max);
    /// let mut previous = base;
    /// for delay in backoff.delays(7).take(20) {
    ///     assert!(base <= delay && delay <= max.min(previous * 3));
    ///     previous = delay;
    /// }
    /// ```
    pub fn decorrelated_jitter(base: Duration, max: Duration) -> Self {
        Backoff {
            kind: Kind::Decorrelated { base },
            max_delay: Some(max),
            full_jitter: false,
        }
    }

    /// Caps every delay at `max`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, ConfigError};
    ///
    /// let capped = Backoff::exponential(Duration::from_secs(1), 10.0)
    ///     .max_delay(Duration::from_secs(30));
    /// let secs: Vec<_> = capped.delays(0).take(3).map(|d| d.as_secs()).collect();
    /// assert_eq!(secs, [1, 10, 30]);
    /// let inverted = Backoff::constant(Duration::from_secs(5)).max_delay(Duration::from_secs(1));
    /// assert!(matches!(inverted.validate(), Err(ConfigError::InvertedDelays { .. })));
    /// ```
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max_delay = Some(max);
        self
    }

    /// Full jitter: each delay is drawn uniformly from `[0, computed delay]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::Backoff;
    ///
    /// let backoff = Backoff::exponential(Duration::from_millis(100), 2.0).full_jitter();
    /// let delays: Vec<_> = backoff.delays(42).take(3).collect();
    /// for (delay, ceiling) in delays.iter().zip([100, 200, 400]) {
    ///     assert!(*delay <= Duration::from_millis(ceiling)); // uniform in [0, computed delay]
    /// }
    /// let again: Vec<_> = backoff.delays(42).take(3).collect();
    /// assert_eq!(delays, again); // same seed, same schedule
    /// ```
    pub fn full_jitter(mut self) -> Self {
        self.full_jitter = true;
        self
    }

    /// The cap on every delay, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::Backoff;
    ///
    /// assert_eq!(Backoff::constant(Duration::from_secs(1)).max(), None);
    /// let capped = Backoff::exponential(Duration::from_secs(1), 2.0)
    ///     .max_delay(Duration::from_secs(8));
    /// assert_eq!(capped.max(), Some(Duration::from_secs(8)));
    /// let (base, max) = (Duration::from_secs(1), Duration::from_secs(20));
    /// let decorrelated = Backoff::decorrelated_jitter(base, max);
    /// assert_eq!(decorrelated.max(), Some(Duration::from_secs(20)));
    /// ```
    pub fn max(&self) -> Option<Duration> {
        self.max_delay
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidFactor`] for a factor that is NaN, infinite or below 1;
    /// [`ConfigError::Zero`] for a zero base of an exponential or decorrelated backoff;
    /// [`ConfigError::InvertedDelays`] when the base exceeds the maximum delay.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, ConfigError};
    ///
    /// assert_eq!(Backoff::exponential(Duration::from_millis(50), 2.0).validate(), Ok(()));
    /// let err = Backoff::exponential(Duration::ZERO, 2.0).validate().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "exponential backoff base delay" });
    /// let (min, max) = (Duration::from_secs(10), Duration::from_secs(1));
    /// let err = Backoff::decorrelated_jitter(min, max).validate().unwrap_err();
    /// assert_eq!(err, ConfigError::InvertedDelays { min, max });
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let base = match self.kind {
            Kind::Constant(d) => d,
            Kind::Exponential { base, factor } => {
                if !factor.is_finite() || factor < 1.0 {
                    return Err(ConfigError::InvalidFactor { value: factor });
                }
                if base.is_zero() {
                    return Err(ConfigError::Zero {
                        what: "exponential backoff base delay",
                    });
                }
                base
            }
            Kind::Decorrelated { base } => {
                if base.is_zero() {
                    return Err(ConfigError::Zero {
                        what: "decorrelated jitter base delay",
                    });
                }
                base
            }
        };
        match self.max_delay {
            Some(max) if base > max => Err(ConfigError::InvertedDelays { min: base, max }),
            _ => Ok(()),
        }
    }

    /// The delay before retry number `retry` (1 for the first retry), given the previous delay
    /// (for decorrelated jitter) and a random source.
    pub(crate) fn delay(&self, retry: u32, previous: Duration, rng: &SplitMix) -> Duration {
        let cap = self.max_delay.unwrap_or(FAR_FUTURE).min(FAR_FUTURE);
        let delay = match self.kind {
            Kind::Constant(d) => d.min(cap),
            Kind::Exponential { base, factor } => {
                let exp = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
                let secs = base.as_secs_f64() * factor.powi(exp);
                if secs.is_finite() && secs < cap.as_secs_f64() {
                    Duration::from_secs_f64(secs).min(cap)
                } else {
                    cap
                }
            }
            Kind::Decorrelated { base } => {
                let low = base.min(cap);
                let high = previous.max(base).saturating_mul(3).min(cap).max(low);
                uniform(low, high, rng)
            }
        };
        if self.full_jitter {
            uniform(Duration::ZERO, delay, rng)
        } else {
            delay
        }
    }

    /// The schedule this backoff produces with jitter seeded by `seed`, one delay per retry.
    ///
    /// A [`Retry`](super::Retry) built with the same backoff and
    /// [`seed`](super::RetryBuilder::seed) waits exactly these delays (unless an error overrides
    /// one through [`delay_from`](super::RetryBuilder::delay_from)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::Backoff;
    ///
    /// let (base, max) = (Duration::from_millis(10), Duration::from_secs(1));
    /// let backoff = Backoff::decorrelated_jitter(base, max);
    /// let first: Vec<_> = backoff.delays(1).take(5).collect();
    /// assert_eq!(first, backoff.delays(1).take(5).collect::<Vec<_>>()); // reproducible
    /// assert!(first.iter().all(|d| *d >= Duration::from_millis(10)));
    /// ```
    pub fn delays(&self, seed: u64) -> BackoffDelays {
        BackoffDelays {
            backoff: *self,
            rng: SplitMix::new(seed),
            retry: 0,
            previous: Duration::ZERO,
        }
    }
}

/// A uniform draw in `[low, high]`, at nanosecond resolution.
fn uniform(low: Duration, high: Duration, rng: &SplitMix) -> Duration {
    let span = high.saturating_sub(low).as_nanos();
    if span == 0 {
        return low;
    }
    // Multiply-shift maps 64 random bits onto [0, span] without modulo bias worth caring about.
    let offset = (u128::from(rng.next_u64()) * (span + 1)) >> 64;
    low + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
}

/// The iterator returned by [`Backoff::delays`]. Endless; use `take`.
#[derive(Debug)]
pub struct BackoffDelays {
    backoff: Backoff,
    rng: SplitMix,
    retry: u32,
    previous: Duration,
}

impl Iterator for BackoffDelays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.retry = self.retry.saturating_add(1);
        let delay = self.backoff.delay(self.retry, self.previous, &self.rng);
        self.previous = delay;
        Some(delay)
    }
}

/// SplitMix64: a tiny, fast, seedable generator, shared lock-free across clones (the state advances
/// with one atomic add per draw). Plenty for jitter; not for cryptography.
pub(crate) struct SplitMix {
    state: AtomicU64,
}

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix {
            state: AtomicU64::new(seed),
        }
    }

    /// A seed that differs between calls and processes, without reading the clock.
    pub(crate) fn entropy_seed() -> u64 {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let local = 0u8;
        let addr = &local as *const u8 as u64;
        let n = COUNTER.fetch_add(GAMMA, Ordering::Relaxed);
        let hasher = std::collections::hash_map::RandomState::new();
        use std::hash::BuildHasher;
        hasher.hash_one((addr, n))
    }

    pub(crate) fn next_u64(&self) -> u64 {
        let mut z = self
            .state
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl fmt::Debug for SplitMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplitMix").finish_non_exhaustive()
    }
}
