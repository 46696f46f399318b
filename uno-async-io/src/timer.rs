//! uno's [`Timer`] on `async-io`'s timers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use uno_core::time::{Sleep, Timer};

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
