//! Backoff schedules and the seedable random source behind their jitter.

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
    pub(crate) fn delay(&self, retry: u32, previous: Duration, jitter: &Jitter) -> Duration {
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
                jitter.uniform(low, high)
            }
        };
        if self.full_jitter {
            jitter.uniform(Duration::ZERO, delay)
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
            jitter: Jitter::new(seed),
            retry: 0,
            previous: Duration::ZERO,
        }
    }
}

/// The iterator returned by [`Backoff::delays`]. Endless; use `take`.
#[derive(Debug)]
pub struct BackoffDelays {
    backoff: Backoff,
    jitter: Jitter,
    retry: u32,
    previous: Duration,
}

impl Iterator for BackoffDelays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.retry = self.retry.saturating_add(1);
        let delay = self.backoff.delay(self.retry, self.previous, &self.jitter);
        self.previous = delay;
        Some(delay)
    }
}

/// The jitter's random source: fastrand's generator, its state shared lock-free by every clone
/// of a policy. A draw runs the generator from the current state and publishes the state it
/// leaves with one compare-and-swap, so the draws of all clones together are fastrand's own
/// sequence for the seed. Plenty for jitter; not for cryptography.
pub(crate) struct Jitter {
    state: AtomicU64,
}

impl Jitter {
    pub(crate) fn new(seed: u64) -> Self {
        Jitter {
            state: AtomicU64::new(seed),
        }
    }

    /// A source seeded from fastrand's per-thread generator: different for every policy and
    /// every process.
    pub(crate) fn from_entropy() -> Self {
        Self::new(fastrand::u64(..))
    }

    /// A uniform draw in `[low, high]`, at nanosecond resolution.
    pub(crate) fn uniform(&self, low: Duration, high: Duration) -> Duration {
        let span = high.saturating_sub(low).as_nanos();
        if span == 0 {
            return low;
        }
        let offset = self.draw(|rng| rng.u128(0..=span));
        // `offset <= span`, and every delay is capped far below `u64::MAX` nanoseconds.
        low + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
    }

    fn draw<T>(&self, draw: impl Fn(&mut fastrand::Rng) -> T) -> T {
        let mut seed = self.state.load(Ordering::Relaxed);
        loop {
            let mut rng = fastrand::Rng::with_seed(seed);
            let value = draw(&mut rng);
            match self.state.compare_exchange_weak(
                seed,
                rng.get_seed(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return value,
                Err(actual) => seed = actual,
            }
        }
    }
}

impl fmt::Debug for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jitter").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn schedule(backoff: Backoff, seed: u64, n: usize) -> Vec<Duration> {
        backoff.delays(seed).take(n).collect()
    }

    #[test]
    fn constant_is_the_same_delay_capped_by_the_maximum() {
        assert_eq!(schedule(Backoff::constant(5 * MS), 0, 3), [5 * MS; 3]);
        assert_eq!(
            schedule(Backoff::constant(Duration::ZERO), 0, 2),
            [Duration::ZERO; 2]
        );
        let capped = Backoff::constant(5 * MS).max_delay(2 * MS);
        assert_eq!(schedule(capped, 0, 2), [2 * MS; 2]);
        let huge = Backoff::constant(Duration::MAX);
        assert_eq!(
            schedule(huge, 0, 1),
            [FAR_FUTURE],
            "saturates, never overflows"
        );
    }

    #[test]
    fn exponential_grows_by_its_factor_up_to_the_cap() {
        let ms = |n| n * MS;
        let doubling = Backoff::exponential(MS, 2.0);
        assert_eq!(
            schedule(doubling, 0, 5),
            [ms(1), ms(2), ms(4), ms(8), ms(16)]
        );
        let capped = doubling.max_delay(ms(5));
        assert_eq!(schedule(capped, 0, 5), [ms(1), ms(2), ms(4), ms(5), ms(5)]);
        let flat = Backoff::exponential(ms(3), 1.0);
        assert_eq!(schedule(flat, 0, 3), [ms(3); 3]);
        // Without a cap the delay saturates at `FAR_FUTURE`, for any retry number.
        let jitter = Jitter::new(0);
        assert_eq!(doubling.delay(200, Duration::ZERO, &jitter), FAR_FUTURE);
        assert_eq!(
            doubling.delay(u32::MAX, Duration::ZERO, &jitter),
            FAR_FUTURE
        );
        assert_eq!(capped.delay(u32::MAX, Duration::ZERO, &jitter), ms(5));
        assert_eq!(
            doubling.delay(0, Duration::ZERO, &jitter),
            ms(1),
            "retry 0 reads as 1"
        );
    }

    #[test]
    fn full_jitter_stays_within_the_computed_delay_and_follows_its_seed() {
        let backoff = Backoff::exponential(4 * MS, 2.0)
            .max_delay(20 * MS)
            .full_jitter();
        let delays = schedule(backoff, 42, 200);
        for (i, d) in delays.iter().enumerate() {
            let ceiling = (4 * MS)
                .saturating_mul(2u32.saturating_pow(i as u32))
                .min(20 * MS);
            assert!(*d <= ceiling, "delay {i} = {d:?} above {ceiling:?}");
        }
        assert!(
            delays.iter().any(|d| *d < 20 * MS),
            "jittered, not the cap every time"
        );
        assert_eq!(
            delays,
            schedule(backoff, 42, 200),
            "the same seed, the same delays"
        );
        assert_ne!(
            delays,
            schedule(backoff, 43, 200),
            "another seed, another schedule"
        );
    }

    #[test]
    fn decorrelated_jitter_stays_between_the_base_and_three_times_the_previous() {
        let (base, max) = (2 * MS, 50 * MS);
        let backoff = Backoff::decorrelated_jitter(base, max);
        let mut previous = base;
        for d in schedule(backoff, 7, 500) {
            assert!(
                base <= d && d <= max.min(previous * 3),
                "{d:?} after {previous:?}"
            );
            previous = d;
        }
        // A base equal to the maximum leaves nothing to draw.
        assert_eq!(
            schedule(Backoff::decorrelated_jitter(max, max), 7, 3),
            [max; 3]
        );
    }

    #[test]
    fn invalid_configurations_are_reported() {
        let nan = Backoff::exponential(MS, f64::NAN).validate().unwrap_err();
        assert!(matches!(nan, ConfigError::InvalidFactor { .. }));
        let infinite = Backoff::exponential(MS, f64::INFINITY).validate();
        assert!(matches!(infinite, Err(ConfigError::InvalidFactor { .. })));
        let shrinking = Backoff::exponential(MS, 0.99).validate();
        assert_eq!(shrinking, Err(ConfigError::InvalidFactor { value: 0.99 }));
        let zero = Backoff::decorrelated_jitter(Duration::ZERO, MS).validate();
        assert!(matches!(zero, Err(ConfigError::Zero { .. })));
        let inverted = Backoff::constant(2 * MS).max_delay(MS).validate();
        assert_eq!(
            inverted,
            Err(ConfigError::InvertedDelays {
                min: 2 * MS,
                max: MS
            })
        );
        assert_eq!(Backoff::constant(Duration::ZERO).validate(), Ok(()));
    }

    #[test]
    fn uniform_draws_stay_in_range() {
        let jitter = Jitter::new(1);
        assert_eq!(jitter.uniform(MS, MS), MS, "an empty range");
        assert_eq!(
            jitter.uniform(2 * MS, MS),
            2 * MS,
            "an inverted range: the low end"
        );
        let (low, high) = (MS, MS + Duration::from_nanos(3));
        let draws: Vec<_> = (0..1000).map(|_| jitter.uniform(low, high)).collect();
        assert!(draws.iter().all(|d| low <= *d && *d <= high));
        for end in [low, high] {
            assert!(draws.contains(&end), "both ends are reachable: {end:?}");
        }
        let wide = jitter.uniform(Duration::ZERO, FAR_FUTURE);
        assert!(wide <= FAR_FUTURE);
    }

    /// Clones (here, threads) sharing one source draw fastrand's own sequence between them: no
    /// draw is lost or repeated by the compare-and-swap.
    #[test]
    fn a_shared_source_draws_fastrands_sequence_once() {
        let span = 1_000_000u128;
        let mut reference = fastrand::Rng::with_seed(99);
        let mut expected: Vec<u128> = (0..4000).map(|_| reference.u128(0..=span)).collect();
        let jitter = Arc::new(Jitter::new(99));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let jitter = jitter.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .map(|_| jitter.draw(|rng| rng.u128(0..=span)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut drawn: Vec<u128> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        drawn.sort_unstable();
        expected.sort_unstable();
        assert_eq!(drawn, expected);
    }
}
