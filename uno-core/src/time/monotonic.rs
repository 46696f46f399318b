//! [`MonotonicClock`]: a cheap nanosecond clock an adapter can lend to hot paths.

use std::fmt;

/// A monotonic clock as a plain function: nanoseconds since an origin of its own.
///
/// A [`Timer`](super::Timer) with a cheaper clock than its [`now`](super::Timer::now) (a
/// calibrated CPU counter instead of a system call, say) offers one through
/// [`Timer::monotonic_clock`](super::Timer::monotonic_clock). Hot paths that only measure time
/// between readings — the rate limiters' admission checks — hold it and read it without going
/// through the timer object. Timers whose time is not the machine's (virtual time, a paused
/// clock) offer none, and those paths read `now()` instead; so everything still runs on virtual
/// time.
///
/// The contract of the function: readings advance at the rate of the timer's `now()` (the same
/// clock, or a counter calibrated against it, drifting by parts per million at most), never wrap,
/// and are comparable across threads, give or take the skew between two cores' counters (a
/// reading may be a little earlier than one taken just before it on another thread).
///
/// # Examples
///
/// ```
/// use std::time::Instant;
/// use uno_core::time::MonotonicClock;
///
/// fn nanos_since_start() -> u64 {
///     static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
///     let start = *START.get_or_init(Instant::now);
///     u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
/// }
///
/// let clock = MonotonicClock::new(nanos_since_start);
/// let a = clock.now_nanos();
/// assert!(clock.now_nanos() >= a);
/// ```
#[derive(Clone, Copy)]
pub struct MonotonicClock {
    read: fn() -> u64,
}

impl MonotonicClock {
    /// A clock read by calling `read` (see the type's contract).
    pub const fn new(read: fn() -> u64) -> Self {
        MonotonicClock { read }
    }

    /// The current reading, in nanoseconds since the clock's origin.
    #[inline]
    pub fn now_nanos(self) -> u64 {
        (self.read)()
    }
}

impl fmt::Debug for MonotonicClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonotonicClock").finish_non_exhaustive()
    }
}
