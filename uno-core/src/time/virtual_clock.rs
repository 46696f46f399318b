//! [`VirtualClock`]: a [`Timer`] that moves only when told to, and its sleeps.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::{Sleep, Timer, deadline_after};
use crate::loom::{Mutex, MutexGuard};

/// A clock that only moves when told to: deterministic time for tests.
///
/// It implements [`Timer`], so it can stand in for a real timer under any spawner. Time starts at the
/// real instant the clock was created and then moves only through [`advance`](Self::advance) /
/// [`advance_to`](Self::advance_to), or — inside a [`VirtualRuntime`](crate::rt::VirtualRuntime) —
/// automatically, to the next pending sleep, whenever every task is idle. Clones share one clock.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures_lite::future;
/// use uno_core::time::{Timer, VirtualClock};
///
/// let clock = VirtualClock::new();
/// let mut sleep = clock.sleep(Duration::from_millis(500));
/// assert!(future::block_on(future::poll_once(&mut sleep)).is_none());
/// clock.advance(Duration::from_millis(500));
/// assert!(future::block_on(future::poll_once(&mut sleep)).is_some());
/// ```
#[derive(Clone)]
pub struct VirtualClock {
    inner: Arc<Mutex<ClockState>>,
}

struct ClockState {
    now: Instant,
    next_id: u64,
    /// Pending sleeps that have been polled, keyed by (deadline, registration order).
    sleepers: BTreeMap<(Instant, u64), Option<Waker>>,
}

impl VirtualClock {
    /// A clock starting at the current real instant.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::time::{Timer, VirtualClock};
    ///
    /// let clock = VirtualClock::new();
    /// let start = clock.now();
    /// std::thread::sleep(std::time::Duration::from_millis(1)); // real time passes...
    /// assert_eq!(clock.now(), start); // ...virtual time does not
    /// ```
    pub fn new() -> Self {
        VirtualClock {
            inner: Arc::new(Mutex::new(ClockState {
                now: Instant::now(),
                next_id: 0,
                sleepers: BTreeMap::new(),
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, ClockState> {
        self.inner.lock()
    }

    /// Moves time forward by `duration` (saturating) and wakes every sleep that is now due.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::time::{FAR_FUTURE, Timer, VirtualClock};
    ///
    /// let clock = VirtualClock::new();
    /// let start = clock.now();
    /// clock.advance(Duration::from_secs(3));
    /// assert_eq!(clock.now() - start, Duration::from_secs(3));
    /// clock.advance(Duration::MAX); // saturates instead of overflowing
    /// assert_eq!(clock.now() - start, Duration::from_secs(3) + FAR_FUTURE);
    /// ```
    pub fn advance(&self, duration: Duration) {
        let now = self.state().now;
        self.advance_to(deadline_after(now, duration));
    }

    /// Moves time forward to `instant` and wakes every sleep that is now due. Time never goes back:
    /// an instant in the past is ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures_lite::future::{block_on, poll_once};
    /// use uno_core::time::{Timer, VirtualClock};
    ///
    /// let clock = VirtualClock::new();
    /// let start = clock.now();
    /// let mut sleep = clock.sleep_until(start + Duration::from_secs(10));
    /// assert!(block_on(poll_once(&mut sleep)).is_none());
    /// clock.advance_to(start + Duration::from_secs(10)); // wakes the sleep
    /// assert!(block_on(poll_once(&mut sleep)).is_some());
    /// clock.advance_to(start); // the past: ignored, time never goes back
    /// assert_eq!(clock.now(), start + Duration::from_secs(10));
    /// ```
    pub fn advance_to(&self, instant: Instant) {
        let due: Vec<Waker> = {
            let mut state = self.state();
            if instant > state.now {
                state.now = instant;
            }
            let now = state.now;
            let mut due = Vec::new();
            while let Some(entry) = state.sleepers.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                if let Some(waker) = entry.remove() {
                    due.push(waker);
                }
            }
            due
        };
        // Woken outside the lock: a waker may poll (or drop) a sleep of this clock right away.
        due.into_iter().for_each(Waker::wake);
    }

    /// The earliest deadline among the sleeps currently being awaited.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures_lite::future::{block_on, poll_once};
    /// use uno_core::time::{Sleep, Timer, VirtualClock};
    ///
    /// let clock = VirtualClock::new();
    /// let mut sleep = clock.sleep(Duration::from_secs(5));
    /// assert_eq!(clock.next_deadline(), None); // a sleep registers at its first poll
    /// let _ = block_on(poll_once(&mut sleep));
    /// assert_eq!(clock.next_deadline(), Some(sleep.deadline()));
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        self.state()
            .sleepers
            .keys()
            .next()
            .map(|(deadline, _)| *deadline)
    }

    /// How many sleeps are currently being awaited.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures_lite::future::{block_on, poll_once};
    /// use uno_core::time::{Timer, VirtualClock};
    ///
    /// let clock = VirtualClock::new();
    /// let mut sleep = clock.sleep(Duration::from_secs(1));
    /// let _ = block_on(poll_once(&mut sleep));
    /// assert_eq!(clock.pending_sleeps(), 1);
    /// drop(sleep); // dropping a sleep unregisters it
    /// assert_eq!(clock.pending_sleeps(), 0);
    /// ```
    pub fn pending_sleeps(&self) -> usize {
        self.state().sleepers.len()
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("VirtualClock")
            .field("now", &state.now)
            .field("pending_sleeps", &state.sleepers.len())
            .finish()
    }
}

impl Timer for VirtualClock {
    fn now(&self) -> Instant {
        self.state().now
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(VirtualSleep {
            clock: self.clone(),
            deadline,
            key: None,
        })
    }
}

/// A sleep on a [`VirtualClock`].
struct VirtualSleep {
    clock: VirtualClock,
    deadline: Instant,
    /// The registration in the clock, present while the sleep is pending and has been polled.
    key: Option<(Instant, u64)>,
}

impl Future for VirtualSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut state = this.clock.state();
        if state.now >= this.deadline {
            if let Some(key) = this.key.take() {
                state.sleepers.remove(&key);
            }
            return Poll::Ready(());
        }
        match this.key {
            Some(key) => match state.sleepers.get_mut(&key) {
                Some(slot) => {
                    if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        *slot = Some(cx.waker().clone());
                    }
                }
                // Removed by `advance_to` although `now < deadline`: cannot happen, since the
                // key's instant is our deadline; re-register defensively.
                None => {
                    state.sleepers.insert(key, Some(cx.waker().clone()));
                }
            },
            None => {
                let key = (this.deadline, state.next_id);
                state.next_id += 1;
                state.sleepers.insert(key, Some(cx.waker().clone()));
                this.key = Some(key);
            }
        }
        Poll::Pending
    }
}

impl Sleep for VirtualSleep {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        let this = &mut *self;
        this.deadline = deadline;
        let waker = {
            let mut state = this.clock.state();
            let Some(old) = this.key.take() else { return };
            let waker = state.sleepers.remove(&old).flatten();
            if deadline > state.now {
                // Keep the waker: the task awaiting this sleep is woken at the new deadline.
                let key = (deadline, state.next_id);
                state.next_id += 1;
                state.sleepers.insert(key, waker);
                this.key = Some(key);
                return;
            }
            waker
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Drop for VirtualSleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.clock.state().sleepers.remove(&key);
        }
    }
}
