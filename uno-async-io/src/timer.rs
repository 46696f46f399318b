//! uno's [`Timer`] on `async-io`'s timers.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use uno_core::time::{MonotonicClock, Sleep, Timer};

/// Timers from `async-io`, the reactor behind smol and async-std.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use uno_async_io::AsyncIoTimer;
/// use uno_core::time::Timer;
///
/// let mut sleep = AsyncIoTimer.sleep(Duration::from_secs(3600));
/// // A sleep is reset in place: now it ends at once.
/// sleep.as_mut().reset(Instant::now());
/// async_io::block_on(sleep);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncIoTimer;

impl Timer for AsyncIoTimer {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(AsyncIoSleep {
            timer: async_io::Timer::at(deadline),
            deadline,
        })
    }

    /// The machine's clock, read through a calibrated CPU counter (see [`MonotonicClock`]).
    fn monotonic_clock(&self) -> Option<MonotonicClock> {
        Some(monotonic_clock())
    }
}

/// The machine's monotonic clock as nanoseconds since its first reading: a calibrated CPU counter
/// (the TSC, where it is invariant) through `quanta`, else the OS's monotonic clock. Calibrated
/// once per process, on first use (up to about 200 ms), which [`Timer::monotonic_clock`] does
/// when a component that reads it is built, not on its hot path.
fn monotonic_nanos() -> u64 {
    static CLOCK: OnceLock<(quanta::Clock, u64)> = OnceLock::new();
    let (clock, start) = CLOCK.get_or_init(start_clock);
    clock.delta_as_nanos(*start, clock.raw())
}

/// The clock behind [`monotonic_nanos`] and its first reading.
#[cold]
fn start_clock() -> (quanta::Clock, u64) {
    let clock = quanta::Clock::new();
    let start = clock.raw();
    (clock, start)
}

/// [`monotonic_nanos`], calibrated now.
fn monotonic_clock() -> MonotonicClock {
    monotonic_nanos();
    MonotonicClock::new(monotonic_nanos)
}

struct AsyncIoSleep {
    timer: async_io::Timer,
    deadline: Instant,
}

impl Future for AsyncIoSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.timer).poll(cx).map(drop)
    }
}

impl Sleep for AsyncIoSleep {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.deadline = deadline;
        self.timer.set_at(deadline);
    }

    fn deadline(&self) -> Instant {
        self.deadline
    }
}
