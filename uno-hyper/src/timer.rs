//! [`UnoTimer`]: hyper's [`Timer`](hyper::rt::Timer) on a uno [`Runtime`]'s clock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use uno_core::rt::Runtime;

/// hyper's [`Timer`](hyper::rt::Timer) on the clock of a uno [`Runtime`]: real time on the
/// adapters, virtual time on [`VirtualRuntime`](uno_core::rt::VirtualRuntime).
///
/// Give it to hyper's builders (`.timer(UnoTimer::new(rt))`) to drive the server's
/// `header_read_timeout`, HTTP/2 keep-alive pings and the client pool's idle timers. hyper
/// reads the time through [`now`](hyper::rt::Timer::now), which is the runtime's, so its
/// deadlines agree with the sleeps on virtual time too.
///
/// **Reset in place.** hyper moves a sleep with [`Timer::reset`](hyper::rt::Timer::reset)
/// (its default replaces the sleep with a new allocation; a custom timer has to downcast hyper's
/// `dyn Sleep` to its own type). A sleep from `UnoTimer` is always its own type, so `reset`
/// moves uno's resettable [`Sleep`](uno_core::time::Sleep) to the new deadline in place: the same
/// allocation and timer registration, no new sleep. A sleep from another timer handed to it is
/// replaced by a new one (never ignored).
///
/// Cost: two allocations per sleep (uno's `Pin<Box<dyn Sleep>>` inside hyper's), none per reset.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hyper::rt::Timer;
/// use uno_core::rt::VirtualRuntime;
/// use uno_hyper::UnoTimer;
///
/// let vrt = VirtualRuntime::new();
/// let timer = UnoTimer::new(vrt.handle());
/// let start = timer.now();
/// let mut sleep = timer.sleep(Duration::from_secs(30));
/// timer.reset(&mut sleep, start + Duration::from_secs(5)); // sooner, in place
/// vrt.block_on(sleep);
/// assert_eq!(timer.now() - start, Duration::from_secs(5)); // virtual: no real wait
/// ```
#[derive(Clone, Debug)]
pub struct UnoTimer {
    rt: Runtime,
}

impl UnoTimer {
    /// A timer on `rt`'s clock.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_core::rt::VirtualRuntime;
    /// let vrt = VirtualRuntime::new();
    /// let timer = uno_hyper::UnoTimer::new(vrt.handle());
    /// let _server = hyper::server::conn::http1::Builder::new().timer(timer);
    /// ```
    pub fn new(rt: Runtime) -> Self {
        UnoTimer { rt }
    }

    /// The runtime whose clock this timer reads.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_core::rt::VirtualRuntime;
    /// let vrt = VirtualRuntime::new();
    /// let timer = uno_hyper::UnoTimer::new(vrt.handle());
    /// assert_eq!(timer.runtime().now(), vrt.handle().now());
    /// ```
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }
}

impl hyper::rt::Timer for UnoTimer {
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the sleep unregisters it.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(UnoSleep {
            inner: self.rt.sleep(duration),
        })
    }

    /// # Cancel safety
    ///
    /// Cancel safe: dropping the sleep unregisters it.
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(UnoSleep {
            inner: self.rt.sleep_until(deadline),
        })
    }

    fn now(&self) -> Instant {
        self.rt.now()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<UnoSleep>() {
            Some(ours) => ours.get_mut().inner.as_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// The sleep [`UnoTimer`] hands hyper: uno's resettable sleep under hyper's trait.
struct UnoSleep {
    inner: Pin<Box<dyn uno_core::time::Sleep>>,
}

impl Future for UnoSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for UnoSleep {}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use hyper::rt::Timer;
    use uno_core::rt::VirtualRuntime;

    use super::*;

    fn address(sleep: &Pin<Box<dyn hyper::rt::Sleep>>) -> *const () {
        (&**sleep as *const dyn hyper::rt::Sleep).cast()
    }

    fn poll(sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>) -> Poll<()> {
        sleep.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn reset_moves_the_sleep_in_place() {
        let vrt = VirtualRuntime::new();
        let clock = vrt.clock();
        let timer = UnoTimer::new(vrt.handle());
        let start = timer.now();
        let mut sleep = timer.sleep(Duration::from_secs(10));
        let before = address(&sleep);
        assert!(poll(&mut sleep).is_pending());
        assert_eq!(clock.pending_sleeps(), 1);

        timer.reset(&mut sleep, start + Duration::from_secs(30)); // later
        assert_eq!(address(&sleep), before); // the same allocation, no new sleep
        assert!(sleep.is::<UnoSleep>());
        clock.advance(Duration::from_secs(10));
        assert!(poll(&mut sleep).is_pending());
        assert_eq!(clock.pending_sleeps(), 1);

        timer.reset(&mut sleep, start + Duration::from_secs(12)); // sooner again
        assert_eq!(address(&sleep), before);
        clock.advance(Duration::from_secs(2));
        assert!(poll(&mut sleep).is_ready());
    }

    #[test]
    fn reset_into_the_past_is_ready_at_the_next_poll() {
        let vrt = VirtualRuntime::new();
        let timer = UnoTimer::new(vrt.handle());
        let mut sleep = timer.sleep_until(timer.now() + Duration::from_secs(60));
        assert!(poll(&mut sleep).is_pending());
        timer.reset(&mut sleep, timer.now() - Duration::from_secs(1));
        assert!(poll(&mut sleep).is_ready());
    }

    /// A sleep of some other timer: `reset` must replace it, not ignore it.
    struct Foreign;

    impl Future for Foreign {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Pending
        }
    }

    impl hyper::rt::Sleep for Foreign {}

    #[test]
    fn a_foreign_sleep_is_replaced_by_one_of_ours() {
        let vrt = VirtualRuntime::new();
        let timer = UnoTimer::new(vrt.handle());
        let mut sleep: Pin<Box<dyn hyper::rt::Sleep>> = Box::pin(Foreign);
        let deadline = timer.now() + Duration::from_secs(3);
        timer.reset(&mut sleep, deadline);
        assert!(sleep.is::<UnoSleep>());
        vrt.block_on(sleep);
        assert_eq!(timer.now(), deadline);
    }

    #[test]
    fn huge_durations_saturate_instead_of_panicking() {
        let vrt = VirtualRuntime::new();
        let timer = UnoTimer::new(vrt.handle());
        let mut sleep = timer.sleep(Duration::MAX);
        assert!(poll(&mut sleep).is_pending());
        timer.reset(&mut sleep, timer.now() + Duration::from_secs(1));
        vrt.block_on(sleep);
    }
}
