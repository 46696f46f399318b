//! The semaphore's algorithm, apart from its API (as tokio's `batch_semaphore.rs`).
//!
//! # Implementation notes
//!
//! - **One word for the free permits and the closed flag** (`Inner::permits`): the count sits
//!   above [`PERMIT_SHIFT`], bit 0 is [`CLOSED`]. An uncontended acquire is one compare-and-swap
//!   on it, a release one `fetch_add`. [`MAX_PERMITS`](super::MAX_PERMITS) leaves headroom above
//!   the shift so that permits being returned while others are handed over never overflow.
//! - **Fair, FIFO, also for multi-permit requests.** Free permits are not taken past a queue of
//!   waiters (`queued != 0` sends `try_take` to the queue). The head waiter accumulates permits
//!   (`Waiter::assigned`) until it has all it needs, so a large request cannot be starved by
//!   small ones.
//! - **The hand-over**: permits reach queued waiters only under the queue lock (`hand_over`),
//!   moved from the free count into the waiter's `assigned`; a waiter fully served is removed
//!   and woken (`GRANTED`). `close` rejects every waiter (`REJECTED`) and returns their partial
//!   grants.
//! - **Release vs enqueue** is a store-buffering pair: the release adds permits then reads
//!   `queued`; a new waiter adds itself to `queued` then reads the permits (in its hand-over).
//!   A `SeqCst` fence between the write and the read on both sides makes at least one see the
//!   other, so a waiter never parks beside a free permit (the loom model
//!   `tests/loom_semaphore.rs` found the version without fences).
//! - **Cancellation never leaks**: a waiter dropped while queued leaves the queue and returns what
//!   it had been handed; one dropped after being granted returns the grant. Either way the next
//!   waiter is served under the same lock.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::task::{Context, Poll};

use super::{AcquireError, MAX_PERMITS, TooManyPermits, TryAcquireError};
use crate::loom::atomic::{AtomicU8, AtomicUsize, Ordering, fence};
use crate::loom::{Arc, AtomicWaker, Mutex, MutexGuard};

/// Bit 0 of `Inner::permits`: the semaphore is closed.
const CLOSED: usize = 1;

/// The free permits are stored in `Inner::permits` shifted left by this much (above [`CLOSED`]).
const PERMIT_SHIFT: u32 = 1;

pub(super) struct Inner {
    /// `available << PERMIT_SHIFT | CLOSED`. Permits here are free for anyone, as long as no one is queued.
    permits: AtomicUsize,
    /// Number of queued waiters; read without the lock by the release fast path.
    queued: AtomicUsize,
    /// Permits in existence (free, handed out or being handed over): bounded by [`MAX_PERMITS`].
    total: AtomicUsize,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    next_id: u64,
    /// Waiters in arrival order (ids grow).
    waiting: BTreeMap<u64, Arc<Waiter>>,
}

/// A queued waiter's state: still waiting, served, or rejected by `close`.
const WAITING: u8 = 0;
const GRANTED: u8 = 1;
const REJECTED: u8 = 2;

struct Waiter {
    needed: usize,
    /// Permits handed to this waiter so far; only touched under the queue lock.
    assigned: AtomicUsize,
    state: AtomicU8,
    waker: AtomicWaker,
}

impl Inner {
    pub(super) fn new(permits: usize) -> Self {
        Inner {
            permits: AtomicUsize::new(permits << PERMIT_SHIFT),
            queued: AtomicUsize::new(0),
            total: AtomicUsize::new(permits),
            queue: Mutex::new(Queue::default()),
        }
    }

    /// `n` held permits leave the semaphore for good (`forget`).
    pub(super) fn forget(&self, n: usize) {
        self.total.fetch_sub(n, Ordering::AcqRel);
    }

    /// Free permits now.
    pub(super) fn available(&self) -> usize {
        self.permits.load(Ordering::Acquire) >> PERMIT_SHIFT
    }

    pub(super) fn is_closed(&self) -> bool {
        self.permits.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Adds `n` new permits, handing them to the waiters first.
    pub(super) fn add(&self, n: usize) -> Result<(), TooManyPermits> {
        // Permits handed out still count: once returned they must not push the semaphore past
        // the maximum.
        self.total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |total| {
                (n <= MAX_PERMITS - total).then(|| total + n)
            })
            .map_err(|total| TooManyPermits {
                total,
                requested: n,
            })?;
        self.permits.fetch_add(n << PERMIT_SHIFT, Ordering::SeqCst);
        // The release side of the store-buffering pair: see `Inner::release`.
        fence(Ordering::SeqCst);
        self.hand_to_waiters();
        Ok(())
    }

    /// Closes: rejects every waiter (returning what they were partly handed), and every later
    /// acquire fails.
    pub(super) fn close(&self) {
        self.permits.fetch_or(CLOSED, Ordering::AcqRel);
        let mut queue = self.queue();
        let waiting = std::mem::take(&mut queue.waiting);
        self.queued.store(0, Ordering::SeqCst);
        for waiter in waiting.into_values() {
            // Partial grants go back; the waiter itself gets nothing.
            let assigned = waiter.assigned.swap(0, Ordering::Relaxed);
            self.permits
                .fetch_add(assigned << PERMIT_SHIFT, Ordering::AcqRel);
            waiter.state.store(REJECTED, Ordering::Release);
            waiter.waker.wake();
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock()
    }

    pub(super) fn try_take(&self, n: usize) -> Result<(), TryAcquireError> {
        let mut current = self.permits.load(Ordering::Acquire);
        loop {
            if current & CLOSED != 0 {
                return Err(TryAcquireError::Closed);
            }
            if n == 0 {
                return Ok(());
            }
            // Fairness: free permits are not taken past a queue of waiters.
            if current >> PERMIT_SHIFT < n || self.queued.load(Ordering::SeqCst) != 0 {
                return Err(TryAcquireError::NoPermits);
            }
            match self.permits.compare_exchange_weak(
                current,
                current - (n << PERMIT_SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    /// Takes up to `want` free permits; returns how many were taken.
    fn take_up_to(&self, want: usize) -> usize {
        let mut current = self.permits.load(Ordering::Acquire);
        loop {
            let take = want.min(current >> PERMIT_SHIFT);
            if take == 0 {
                return 0;
            }
            match self.permits.compare_exchange_weak(
                current,
                current - (take << PERMIT_SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return take,
                Err(actual) => current = actual,
            }
        }
    }

    pub(super) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        // A store-buffering pair with the enqueue in `Wait::poll_wait` (we add permits, then read
        // `queued`; the waiter adds itself to `queued`, then reads the permits): with a SeqCst
        // fence between the write and the read on both sides, at least one side sees the other's
        // write — either we see the new waiter and hand the permits over under the lock, or the
        // waiter's own hand-over sees the permits. Without the fences a plain `Acquire` read of
        // the permits may miss this release, and the waiter sleeps beside a free permit (found by
        // the loom model `tests/loom_semaphore.rs`).
        self.permits.fetch_add(n << PERMIT_SHIFT, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.hand_to_waiters();
    }

    fn hand_to_waiters(&self) {
        if self.queued.load(Ordering::SeqCst) != 0 {
            self.hand_over(&mut self.queue());
        }
    }

    /// Moves free permits to the waiters at the head of the queue, in order, waking each one that
    /// is fully served. The head waiter accumulates permits, so it cannot be starved.
    fn hand_over(&self, queue: &mut Queue) {
        while let Some(entry) = queue.waiting.first_entry() {
            let waiter = entry.get();
            let assigned = waiter.assigned.load(Ordering::Relaxed);
            let took = self.take_up_to(waiter.needed - assigned);
            waiter.assigned.store(assigned + took, Ordering::Relaxed);
            if assigned + took < waiter.needed {
                return;
            }
            let waiter = entry.remove();
            self.queued.fetch_sub(1, Ordering::SeqCst);
            waiter.state.store(GRANTED, Ordering::Release);
            waiter.waker.wake();
        }
    }
}

/// The waiting state machine shared by [`Acquire`] and [`AcquireOwned`].
pub(super) struct Wait<S: Deref<Target = Inner>> {
    pub(super) sem: S,
    pub(super) n: usize,
    /// Present while queued.
    queued: Option<(u64, Arc<Waiter>)>,
    done: bool,
}

impl<S: Deref<Target = Inner>> Wait<S> {
    pub(super) fn new(sem: S, n: usize) -> Self {
        Wait {
            sem,
            n,
            queued: None,
            done: false,
        }
    }

    pub(super) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), AcquireError>> {
        assert!(!self.done, "semaphore `Acquire` polled after completion");
        let waiter = match &self.queued {
            Some((_, waiter)) => waiter.clone(),
            None => {
                match self.sem.try_take(self.n) {
                    Ok(()) => {
                        self.done = true;
                        return Poll::Ready(Ok(()));
                    }
                    Err(TryAcquireError::Closed) => {
                        self.done = true;
                        return Poll::Ready(Err(AcquireError(())));
                    }
                    Err(TryAcquireError::NoPermits) => {}
                }
                let waiter = Arc::new(Waiter {
                    needed: self.n,
                    assigned: AtomicUsize::new(0),
                    state: AtomicU8::new(WAITING),
                    waker: AtomicWaker::new(),
                });
                waiter.waker.register(cx.waker());
                let mut queue = self.sem.queue();
                if self.sem.permits.load(Ordering::Acquire) & CLOSED != 0 {
                    self.done = true;
                    return Poll::Ready(Err(AcquireError(())));
                }
                let id = queue.next_id;
                queue.next_id += 1;
                queue.waiting.insert(id, waiter.clone());
                self.sem.queued.fetch_add(1, Ordering::SeqCst);
                // The waiter side of the store-buffering pair in `Inner::release`.
                fence(Ordering::SeqCst);
                self.sem.hand_over(&mut queue);
                drop(queue);
                self.queued = Some((id, waiter.clone()));
                waiter
            }
        };
        waiter.waker.register(cx.waker());
        match waiter.state.load(Ordering::Acquire) {
            GRANTED => {
                self.queued = None;
                self.done = true;
                Poll::Ready(Ok(()))
            }
            REJECTED => {
                self.queued = None;
                self.done = true;
                Poll::Ready(Err(AcquireError(())))
            }
            _ => Poll::Pending,
        }
    }
}

impl<S: Deref<Target = Inner>> Drop for Wait<S> {
    fn drop(&mut self) {
        let Some((id, waiter)) = self.queued.take() else {
            return;
        };
        let mut queue = self.sem.queue();
        let give_back = if queue.waiting.remove(&id).is_some() {
            self.sem.queued.fetch_sub(1, Ordering::SeqCst);
            waiter.assigned.swap(0, Ordering::Relaxed)
        } else if waiter.state.load(Ordering::Acquire) == GRANTED {
            // Granted while we were being dropped: the permits are ours to return.
            waiter.needed
        } else {
            0
        };
        if give_back > 0 {
            self.sem
                .permits
                .fetch_add(give_back << PERMIT_SHIFT, Ordering::SeqCst);
            self.sem.hand_over(&mut queue);
        }
    }
}
