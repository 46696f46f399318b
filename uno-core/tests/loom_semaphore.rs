//! loom models of the semaphore's hand-over (`src/sync/semaphore.rs`).
//!
//! Run: `RUSTFLAGS="--cfg uno_loom" cargo test -p uno-core --release --test loom_semaphore`.
//!
//! Covered, in every interleaving loom explores (and under its weaker-than-SeqCst memory model):
//! the lock-free release path (`permits` then `queued`, no lock) against a waiter enqueueing under
//! the queue lock; a queued waiter cancelled (dropped) while permits are handed to it, alone and
//! with a partial multi-permit grant; `close` against a partly served waiter. Each model asserts
//! that no permit is lost or duplicated (the count comes back) and that no waiter is lost: a waiter
//! that is never woken leaves its thread blocked, which loom reports as a deadlock.
//!
//! Not covered: atomic-waker's own lock-free code (the models use its contract, see
//! `src/loom.rs`), `acquire_timeout` (time), and more than three threads or the preemption bound.

#![cfg(uno_loom)]

mod loom_support;

use loom::future::block_on;
use loom::thread;
use loom_support::{flag_waker, model, poll_with};
use uno_core::sync::AsyncSemaphore;

/// The release fast path and the first waiter's enqueue are a store-buffering handshake:
/// `release` adds permits then reads `queued`; the waiter adds itself to `queued` then reads the
/// permits. Without a SeqCst fence between the write and the read on both sides, both reads may
/// miss the other's write: the release skips the hand-over, the waiter sees no permit and parks
/// beside a free one. This model found that (on POWER it is a real hang; x86 and ARMv8 hide it);
/// the fences in `Inner::release`, `add_permits` and `Wait::poll_wait` fix it.
#[test]
fn a_release_racing_the_first_enqueue_never_strands_the_permit() {
    model(|| {
        let sem = AsyncSemaphore::new(1);
        let held = sem.try_acquire_owned().unwrap();
        let releaser = thread::spawn(move || drop(held)); // the lock-free release path
        let permit = block_on(sem.acquire()).unwrap(); // enqueues as the first waiter
        assert_eq!(permit.num_permits(), 1);
        drop(permit);
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

// The models below queue a waiter before the race starts, so every release takes the locked
// hand-over path: they check the hand-over itself, apart from the bug above.

#[test]
fn a_cancelled_waiter_passes_its_grant_on() {
    model(|| {
        let sem = AsyncSemaphore::new(1);
        let held = sem.try_acquire_owned().unwrap();
        let (waker, _) = flag_waker();
        let mut first = sem.acquire_owned();
        assert!(poll_with(&mut first, &waker).is_pending()); // queued ahead of `second`
        let mut second = sem.acquire();
        assert!(poll_with(&mut second, &waker).is_pending());
        // Cancelled while the release may be handing it the permit: a grant it never saw goes on.
        let canceller = thread::spawn(move || drop(first));
        let releaser = thread::spawn(move || drop(held));
        let permit = block_on(second).unwrap(); // never lost behind the cancelled waiter
        drop(permit);
        canceller.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn a_cancelled_partly_served_waiter_returns_its_share() {
    model(|| {
        let sem = AsyncSemaphore::new(2);
        let first = sem.try_acquire_owned().unwrap();
        let second = sem.try_acquire_owned().unwrap();
        let (waker, _) = flag_waker();
        let mut cancelled = sem.acquire_many_owned(2);
        assert!(poll_with(&mut cancelled, &waker).is_pending());
        let mut next = sem.acquire_many(2);
        assert!(poll_with(&mut next, &waker).is_pending());
        // `first` may become the cancelled waiter's share before it is dropped.
        let canceller = thread::spawn(move || drop(cancelled));
        let releaser = thread::spawn(move || drop(first));
        drop(second);
        let both = block_on(next).unwrap();
        assert_eq!(both.num_permits(), 2);
        drop(both);
        canceller.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn close_rejects_a_partly_served_waiter_and_keeps_its_share() {
    model(|| {
        let sem = AsyncSemaphore::new(2);
        let first = sem.try_acquire_owned().unwrap();
        let second = sem.try_acquire_owned().unwrap();
        let waiter = {
            let sem = sem.clone();
            // `second` is held throughout, so the waiter can be served at most one of two.
            thread::spawn(move || block_on(sem.acquire_many(2)).is_err())
        };
        let closer = {
            let sem = sem.clone();
            thread::spawn(move || sem.close())
        };
        drop(first);
        assert!(
            waiter.join().unwrap(),
            "a waiter for 2 of 1 free permits was served"
        );
        closer.join().unwrap();
        drop(second);
        assert_eq!(sem.available_permits(), 2);
        assert!(sem.try_acquire().is_err());
    });
}
