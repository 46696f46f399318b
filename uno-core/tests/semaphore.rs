//! Semaphore wake-ups checked by hand-polling, with no runtime.

mod common;

use common::{counting_waker, poll_with};
use uno_core::sync::{AsyncSemaphore, MAX_PERMITS, TooManyPermits, TryAcquireError};

#[test]
fn a_release_wakes_exactly_the_head_waiter() {
    let sem = AsyncSemaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let (w1, c1) = counting_waker();
    let (w2, c2) = counting_waker();
    let mut first = sem.acquire();
    let mut second = sem.acquire();
    assert!(poll_with(&mut first, &w1).is_pending());
    assert!(poll_with(&mut second, &w2).is_pending());
    drop(held);
    assert_eq!((c1.count(), c2.count()), (1, 0));
    let permit = match poll_with(&mut first, &w1) {
        std::task::Poll::Ready(Ok(p)) => p,
        other => panic!("first waiter not served: {other:?}"),
    };
    drop(permit);
    assert_eq!(c2.count(), 1);
    assert!(poll_with(&mut second, &w2).is_ready());
}

#[test]
fn a_cancelled_head_waiter_returns_its_partial_grant_and_passes_the_turn() {
    let sem = AsyncSemaphore::new(3);
    let two = sem.try_acquire_many(2).unwrap();
    let one = sem.try_acquire().unwrap();
    let (w_big, c_big) = counting_waker();
    let (w_small, c_small) = counting_waker();
    let mut big = sem.acquire_many(3);
    let mut small = sem.acquire();
    assert!(poll_with(&mut big, &w_big).is_pending());
    assert!(poll_with(&mut small, &w_small).is_pending());
    // Two permits come back: both go to the head waiter (it needs three), none to `small`.
    drop(two);
    assert_eq!((c_big.count(), c_small.count()), (0, 0));
    assert_eq!(sem.available_permits(), 0);
    // The head waiter is cancelled: its two permits are returned, and `small` is served.
    drop(big);
    assert_eq!(c_small.count(), 1);
    let permit = match poll_with(&mut small, &w_small) {
        std::task::Poll::Ready(Ok(p)) => p,
        other => panic!("small waiter not served: {other:?}"),
    };
    assert_eq!(sem.available_permits(), 1);
    drop(permit);
    drop(one);
    assert_eq!(sem.available_permits(), 3, "nothing leaked");
}

#[test]
fn the_head_accumulates_permits_so_a_large_request_is_not_starved() {
    let sem = AsyncSemaphore::new(2);
    let a = sem.try_acquire().unwrap();
    let b = sem.try_acquire().unwrap();
    let (w, c) = counting_waker();
    let (w1, _) = counting_waker();
    let mut big = sem.acquire_many(2);
    let mut small = sem.acquire();
    assert!(poll_with(&mut big, &w).is_pending());
    assert!(poll_with(&mut small, &w1).is_pending());
    drop(a); // handed to `big` (1 of 2), not to `small`
    assert_eq!(c.count(), 0);
    assert!(poll_with(&mut small, &w1).is_pending());
    assert!(sem.try_acquire().is_err());
    // Cancel the big waiter: its one permit goes to the small one.
    drop(big);
    assert!(poll_with(&mut small, &w1).is_ready());
    drop(b);
}

#[test]
fn close_rejects_waiters_and_keeps_counting_held_permits() {
    let sem = AsyncSemaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let (w, c) = counting_waker();
    let mut waiter = sem.acquire();
    assert!(poll_with(&mut waiter, &w).is_pending());
    sem.close();
    assert_eq!(c.count(), 1);
    assert!(matches!(
        poll_with(&mut waiter, &w),
        std::task::Poll::Ready(Err(_))
    ));
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    drop(held);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn add_permits_past_the_maximum_is_a_typed_error() {
    let sem = AsyncSemaphore::new(1);
    let err: TooManyPermits = sem.add_permits(MAX_PERMITS).unwrap_err();
    assert_eq!((err.total, err.requested), (1, MAX_PERMITS));
    assert_eq!(sem.available_permits(), 1);
    sem.add_permits(MAX_PERMITS - 1).unwrap();
    assert_eq!(sem.available_permits(), MAX_PERMITS);
}
