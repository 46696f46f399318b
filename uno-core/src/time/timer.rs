//! The [`Timer`] half of the runtime seam, the [`Sleep`] it hands out, and deadline arithmetic
//! that never overflows ([`deadline_after`]).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use super::MonotonicClock;

/// How far away a deadline is put when `now + duration` would overflow `Instant` (about 30 years):
/// such a sleep or timeout simply never fires in practice, and nothing panics.
pub const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `now + duration`, saturating at [`FAR_FUTURE`] instead of overflowing.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use uno_core::time::{FAR_FUTURE, deadline_after};
///
/// let now = Instant::now();
/// assert_eq!(deadline_after(now, Duration::from_secs(1)), now + Duration::from_secs(1));
/// assert_eq!(deadline_after(now, Duration::MAX), now + FAR_FUTURE);
/// ```
pub fn deadline_after(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration.min(FAR_FUTURE)).unwrap_or(now)
}

/// A sleep future from a [`Timer`] that can be moved to a new deadline in place.
///
/// Resetting keeps the registration (and the waker) of a sleep that is being awaited, so a caller
/// never has to allocate a new sleep to extend or shorten one.
pub trait Sleep: Future<Output = ()> + Send + Sync {
    /// Moves the deadline. A deadline in the past makes the sleep ready at its next poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures_lite::future::{block_on, poll_once};
    /// use uno_core::time::{Sleep, Timer, VirtualClock};
    ///
    /// let clock = VirtualClock::new();
    /// let mut sleep = clock.sleep(Duration::from_secs(10));
    /// assert!(block_on(poll_once(&mut sleep)).is_none());
    /// sleep.as_mut().reset(clock.now() + Duration::from_secs(1)); // shorten it in place
    /// clock.advance(Duration::from_secs(1));
    /// assert!(block_on(poll_once(&mut sleep)).is_some());
    /// ```
    fn reset(self: Pin<&mut Self>, deadline: Instant);

    /// The instant at which the sleep completes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::time::{Sleep, Timer, VirtualClock};
    ///
    /// let clock = VirtualClock::new();
    /// let sleep = clock.sleep(Duration::from_secs(5));
    /// assert_eq!(sleep.deadline(), clock.now() + Duration::from_secs(5));
    /// ```
    fn deadline(&self) -> Instant;
}

/// Keeps time for uno: the current instant and sleeps. Implemented by each adapter and by
/// [`VirtualClock`](super::VirtualClock).
///
/// The trait is object safe; [`Runtime`](crate::rt::Runtime) holds it as a trait object.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use uno_core::time::{Timer, VirtualClock};
///
/// let clock = VirtualClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now() - start, Duration::from_secs(5));
/// ```
pub trait Timer: Send + Sync + 'static {
    /// The current instant. Overridable so time can be virtual.
    fn now(&self) -> Instant;

    /// A future that completes at `deadline` (at its first poll if the deadline has passed).
    ///
    /// # Cancel safety
    ///
    /// Implementations must make the sleep cancel safe: dropping it unregisters it and has no other
    /// effect.
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>>;

    /// A future that completes after `duration`; saturates instead of overflowing.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`sleep_until`](Self::sleep_until).
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(deadline_after(self.now(), duration))
    }

    /// A cheaper clock for hot paths that only measure time between readings, if this timer has
    /// one (see [`MonotonicClock`] for its contract). The default is `None`: such paths then read
    /// [`now`](Self::now). A timer whose time is not the machine's — virtual, paused — must
    /// answer `None`, so that everything keeps following its time.
    ///
    /// Called once by each user when it is built (a rate limiter, say), not per reading.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::time::{Timer, VirtualClock};
    ///
    /// // Virtual time has no machine clock to lend.
    /// assert!(VirtualClock::new().monotonic_clock().is_none());
    /// ```
    fn monotonic_clock(&self) -> Option<MonotonicClock> {
        None
    }
}
