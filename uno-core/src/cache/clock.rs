//! [`CacheClock`]: where a cache reads the time, as nanoseconds on one base fixed when it is built.

use std::time::{Duration, Instant};

use crate::rt::Runtime;
use crate::time::MonotonicClock;

/// A cache's clock: the timer's [`MonotonicClock`] if it lends one (real runtimes: a calibrated
/// CPU counter, read without a call through the timer object or `Instant` arithmetic — the hit
/// path reads it once), else the timer's `now()` as nanoseconds since the cache was built
/// (virtual time, paused time, a timer with no cheaper clock: exact to the nanosecond). Every
/// deadline of an entry and every reading compared with it are on this one base.
pub(super) enum CacheClock {
    Monotonic(MonotonicClock),
    Timer(Instant),
}

impl CacheClock {
    /// The clock of a cache on `rt`, chosen once.
    pub(super) fn of(rt: &Runtime) -> Self {
        match rt.timer().monotonic_clock() {
            Some(clock) => CacheClock::Monotonic(clock),
            None => CacheClock::Timer(rt.now()),
        }
    }

    /// Now, in nanoseconds on this clock.
    #[inline]
    pub(super) fn now(&self, rt: &Runtime) -> u64 {
        match self {
            CacheClock::Monotonic(clock) => clock.now_nanos(),
            CacheClock::Timer(origin) => nanos(rt.now().saturating_duration_since(*origin)),
        }
    }
}

/// `duration` in nanoseconds, saturating (`u64::MAX` is about 584 years: never reached).
pub(super) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The reading `duration` after `now`, saturating: a deadline past the clock's range never comes.
pub(super) fn after(now: u64, duration: Duration) -> u64 {
    now.saturating_add(nanos(duration))
}

/// The time from `earlier` to `later`, zero if the readings are out of order (two cores'
/// counters may differ by a little).
pub(super) fn between(earlier: u64, later: u64) -> Duration {
    Duration::from_nanos(later.saturating_sub(earlier))
}
