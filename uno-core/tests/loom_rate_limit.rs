//! loom models of the rate limiter (`src/resilience/rate_limit.rs`): the GCRA compare-and-swap
//! and the FIFO queue's hand-over.
//!
//! Run: `RUSTFLAGS="--cfg uno_loom" cargo test -p uno-core --release --test loom_rate_limit`.
//!
//! Covered, in every interleaving loom explores: concurrent `try_acquire`s at one instant (the
//! CAS loop on the theoretical arrival time) admit exactly the burst, never more; readings that
//! reach the CAS out of order (a later reading first) never admit two at the same instant beyond
//! the burst; a queued waiter cancelled while the clock moves and a newcomer waits hands its turn
//! on (the newcomer is always admitted: nobody is left asleep with the limiter free).
//!
//! Time is a `ManualClock` (tests/loom_support): std state, one step between loom's, and each
//! thread may read its own clock. Not covered: the clock-reading origin (`OnceLock`, std: one
//! step), the arithmetic at the ends of the `Duration` range (unit and property tests), and
//! real timers.

#![cfg(uno_loom)]

mod loom_support;

use std::time::Duration;

use loom::future::block_on;
use loom::thread;
use loom_support::{ManualClock, flag_waker, model, poll_with};
use uno_core::resilience::RateLimiter;

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn concurrent_checks_at_one_instant_admit_exactly_the_burst() {
    model(|| {
        let rt = ManualClock::new().runtime();
        let limiter = RateLimiter::builder(&rt, 1, SECOND)
            .burst(2)
            .build()
            .unwrap();
        let checkers: Vec<_> = (0..2)
            .map(|_| {
                let limiter = limiter.clone();
                thread::spawn(move || limiter.try_acquire().is_ok())
            })
            .collect();
        let mut admitted = usize::from(limiter.try_acquire().is_ok());
        for checker in checkers {
            admitted += usize::from(checker.join().unwrap());
        }
        assert_eq!(admitted, 2, "three checks at one instant with a burst of 2");
        let stats = limiter.stats();
        assert_eq!((stats.admitted, stats.rejected), (2, 1));
    });
}

#[test]
fn readings_out_of_order_never_admit_two_at_one_instant() {
    model(|| {
        // Burst 1: at most one admission per second of readings. One caller moves the clock a
        // second on before its check, so the others read either instant, in either order.
        let clock = ManualClock::new();
        let rt = clock.runtime();
        let limiter = RateLimiter::builder(&rt, 1, SECOND)
            .burst(1)
            .build()
            .unwrap();
        let late = {
            let limiter = limiter.clone();
            thread::spawn(move || {
                clock.advance(SECOND);
                limiter.try_acquire().is_ok()
            })
        };
        let early = {
            let limiter = limiter.clone();
            thread::spawn(move || limiter.try_acquire().is_ok())
        };
        let here = limiter.try_acquire().is_ok();
        let early = early.join().unwrap();
        let late = late.join().unwrap();
        let admitted = [here, early, late].into_iter().filter(|&a| a).count();
        // At least one: the first CAS always conforms. At most one per instant read, and there
        // are two: a check at the earlier instant landing after one at the later is refused.
        assert!((1..=2).contains(&admitted), "{admitted} admitted");
    });
}

#[test]
fn a_cancelled_waiter_hands_its_turn_on_while_the_clock_moves() {
    model(|| {
        let clock = ManualClock::new();
        let rt = clock.runtime();
        let limiter = RateLimiter::builder(&rt, 1, SECOND)
            .burst(2)
            .build()
            .unwrap();
        assert!(limiter.try_acquire().is_ok() && limiter.try_acquire().is_ok());
        // The burst is spent: nothing conforms until the clock moves by a second.
        let cancelled = {
            let limiter = limiter.clone();
            thread::spawn(move || {
                let (waker, _) = flag_waker();
                let mut acquire = Box::pin(limiter.acquire());
                let _ = poll_with(&mut acquire, &waker); // queued (maybe first), or admitted
            })
        };
        let ticker = thread::spawn(move || clock.advance(Duration::from_secs(2)));
        block_on(limiter.acquire()); // never left asleep behind the cancelled waiter
        cancelled.join().unwrap();
        ticker.join().unwrap();
        let stats = limiter.stats();
        assert_eq!(stats.queued, 0);
        // The cancelled waiter was either admitted or consumed nothing.
        assert_eq!(stats.admitted + stats.abandoned, 4, "{stats:?}");
    });
}
