//! The bulkhead (Uno's `@concurrent_limited`): a bound on calls in flight, with an optional bound
//! on the queue and on the wait.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::resilience::{BulkheadRejected, ConfigError, ResilienceError};
use crate::rt::Runtime;
use crate::sync::{
    Acquire, AcquireError, AcquireOwned, AsyncSemaphore, OwnedSemaphorePermit, SemaphorePermit,
};

/// At most `max_concurrent` calls in flight; callers beyond that wait in arrival order, unless the
/// queue already holds `max_queue` waiters or the wait exceeds `max_wait`, in which case the call
/// is rejected with [`BulkheadRejected`].
///
/// A slot is held by a [`BulkheadPermit`], an RAII guard: it is released when the permit is
/// dropped, including when the caller's future is dropped mid-call. Clones share the slots. Built
/// on [`AsyncSemaphore`].
///
/// # Panics
///
/// A panic in the operation (the closure, its future's `poll` or its `Drop`) propagates out of
/// `run` unchanged after the slot (or the queue place) is released.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::{Bulkhead, BulkheadRejected, ResilienceError};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let bulkhead = Bulkhead::builder(1).max_queue(0).build().unwrap();
/// vrt.block_on(async move {
///     let held = bulkhead.acquire(&rt).await.unwrap();
///     let refused = bulkhead.run(&rt, || async { Ok::<_, ()>(()) }).await;
///     assert_eq!(
///         refused,
///         Err(ResilienceError::Rejected(BulkheadRejected::QueueFull { max_queue: 0 }))
///     );
///     drop(held);
///     assert_eq!(bulkhead.run(&rt, || async { Ok::<_, ()>(7) }).await, Ok(7));
/// });
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    max_concurrent: u32,
    max_queue: Option<usize>,
    max_wait: Option<Duration>,
    slots: AsyncSemaphore,
    queued: AtomicUsize,
    in_flight: AtomicUsize,
    admitted: AtomicU64,
    rejected_queue_full: AtomicU64,
    rejected_max_wait: AtomicU64,
}

/// A snapshot of a [`Bulkhead`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkheadStats {
    /// Calls holding a slot right now.
    pub in_flight: usize,
    /// Callers waiting for a slot right now.
    pub queued: usize,
    /// Slots handed out so far.
    pub admitted: u64,
    /// Calls rejected because the queue was full.
    pub rejected_queue_full: u64,
    /// Calls rejected because they waited `max_wait`.
    pub rejected_max_wait: u64,
}

/// Builds a [`Bulkhead`]; from [`Bulkhead::builder`].
#[derive(Debug, Clone)]
pub struct BulkheadBuilder {
    max_concurrent: u32,
    max_queue: Option<usize>,
    max_wait: Option<Duration>,
}

impl Bulkhead {
    /// A builder for at most `max_concurrent` calls in flight, with an unbounded queue and no
    /// wait limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Bulkhead, ConfigError};
    ///
    /// let bulkhead = Bulkhead::builder(5).build().unwrap();
    /// assert_eq!(bulkhead.max_concurrent(), 5);
    /// let err = Bulkhead::builder(0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "bulkhead max_concurrent" });
    /// ```
    pub fn builder(max_concurrent: u32) -> BulkheadBuilder {
        BulkheadBuilder {
            max_concurrent,
            max_queue: None,
            max_wait: None,
        }
    }

    /// Takes a slot without waiting, if one is free and nobody is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Bulkhead;
    ///
    /// let bulkhead = Bulkhead::builder(1).build().unwrap();
    /// let permit = bulkhead.try_acquire().expect("a slot is free");
    /// assert!(bulkhead.try_acquire().is_none()); // the only slot is taken
    /// drop(permit);
    /// assert!(bulkhead.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<BulkheadPermit> {
        let slot = Slot::try_take(&self.inner)?;
        Some(BulkheadPermit { _slot: slot })
    }

    /// Waits for a slot, in arrival order.
    ///
    /// # Errors
    ///
    /// [`BulkheadRejected::QueueFull`] at once if the queue is full,
    /// [`BulkheadRejected::MaxWait`] after waiting `max_wait`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a caller dropped while queued leaves the queue and takes no slot; a slot handed
    /// to it in the meantime goes back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Bulkhead, BulkheadRejected};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let bulkhead = Bulkhead::builder(1).max_wait(Duration::from_secs(2)).build().unwrap();
    /// let permit = bulkhead.acquire(&rt).await.unwrap();
    /// assert_eq!(bulkhead.stats().in_flight, 1);
    /// let err = bulkhead.acquire(&rt).await.unwrap_err(); // waits 2 s for the held slot
    /// assert_eq!(err, BulkheadRejected::MaxWait { max_wait: Duration::from_secs(2) });
    /// drop(permit);
    /// assert!(bulkhead.acquire(&rt).await.is_ok());
    /// # });
    /// ```
    pub async fn acquire(&self, rt: &Runtime) -> Result<BulkheadPermit, BulkheadRejected> {
        let slot = Slot::take(&self.inner, rt).await?;
        Ok(BulkheadPermit { _slot: slot })
    }

    /// A slot borrowed from the bulkhead, for calls that hold it within their own future
    /// (`run`, the pipeline): the same as [`acquire`](Self::acquire) without the reference
    /// counting of an owned permit.
    pub(crate) fn try_enter(&self) -> Option<BorrowedSlot<'_>> {
        Slot::try_take(&&*self.inner)
    }

    /// Waits for a borrowed slot; see [`try_enter`](Self::try_enter).
    pub(crate) async fn enter(&self, rt: &Runtime) -> Result<BorrowedSlot<'_>, BulkheadRejected> {
        Slot::take(&&*self.inner, rt).await
    }

    /// Runs `op` in a slot.
    ///
    /// # Errors
    ///
    /// [`ResilienceError::Rejected`] (the operation was not called) or
    /// [`ResilienceError::Inner`] for the operation's error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe as [`acquire`](Self::acquire); dropped while the operation runs, the
    /// operation's future is dropped and the slot released.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Bulkhead, ResilienceError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let bulkhead = Bulkhead::builder(2).build().unwrap();
    /// let ok = bulkhead.run(&rt, || async { Ok::<_, &str>(1) }).await;
    /// assert_eq!(ok, Ok(1));
    /// let failed = bulkhead.run(&rt, || async { Err::<i32, _>("boom") }).await;
    /// assert_eq!(failed, Err(ResilienceError::Inner("boom")));
    /// assert_eq!(bulkhead.stats().in_flight, 0); // the slot was released both times
    /// # });
    /// ```
    pub async fn run<T, E, F, Fut>(&self, rt: &Runtime, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let _slot = self.enter(rt).await?;
        op().await.map_err(ResilienceError::Inner)
    }

    /// As [`run`](Self::run), for an operation that already returns a [`ResilienceError`].
    ///
    /// # Errors
    ///
    /// [`ResilienceError::Rejected`], or the operation's errors as they are.
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Bulkhead, ResilienceError, TimeoutPolicy};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let bulkhead = Bulkhead::builder(2).build().unwrap();
    /// let timeout = TimeoutPolicy::new(Duration::from_secs(1), "inner call").unwrap();
    /// let out: Result<(), ResilienceError<()>> = bulkhead
    ///     .run_flat(&rt, || timeout.run(&rt, || std::future::pending()))
    ///     .await;
    /// assert!(out.unwrap_err().is_timeout()); // not ResilienceError<ResilienceError<()>>
    /// # });
    /// ```
    pub async fn run_flat<T, E, F, Fut>(&self, rt: &Runtime, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        let _slot = self.enter(rt).await?;
        op().await
    }

    /// The configured bound on calls in flight.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Bulkhead;
    ///
    /// let bulkhead = Bulkhead::builder(8).build().unwrap();
    /// assert_eq!(bulkhead.max_concurrent(), 8);
    /// assert_eq!(bulkhead.clone().max_concurrent(), 8); // clones share the configuration
    /// ```
    pub fn max_concurrent(&self) -> u32 {
        self.inner.max_concurrent
    }

    /// A snapshot of the counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Bulkhead;
    ///
    /// let bulkhead = Bulkhead::builder(1).max_queue(0).build().unwrap();
    /// let _permit = bulkhead.try_acquire().unwrap();
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    /// assert!(bulkhead.acquire(&rt).await.is_err()); // queue of zero: rejected at once
    /// # });
    /// let stats = bulkhead.stats();
    /// assert_eq!((stats.in_flight, stats.admitted, stats.rejected_queue_full), (1, 1, 1));
    /// ```
    pub fn stats(&self) -> BulkheadStats {
        let inner = &*self.inner;
        BulkheadStats {
            in_flight: inner.in_flight.load(Ordering::Relaxed),
            queued: inner.queued.load(Ordering::Relaxed),
            admitted: inner.admitted.load(Ordering::Relaxed),
            rejected_queue_full: inner.rejected_queue_full.load(Ordering::Relaxed),
            rejected_max_wait: inner.rejected_max_wait.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    /// Queues for a slot (the semaphore's `wait`), bounded by `max_queue` and `max_wait`.
    async fn wait_for<P>(
        &self,
        rt: &Runtime,
        wait: impl Future<Output = Result<P, AcquireError>>,
    ) -> Result<P, BulkheadRejected> {
        if let Some(max_queue) = self.max_queue {
            let joined = self
                .queued
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                    (q < max_queue).then_some(q + 1)
                });
            if joined.is_err() {
                return Err(self.reject(BulkheadRejected::QueueFull { max_queue }));
            }
        } else {
            self.queued.fetch_add(1, Ordering::AcqRel);
        }
        // Leaves the queue count on every exit path, a dropped future included.
        let _in_queue = QueueSlot(&self.queued);
        let permit = match self.max_wait {
            None => wait.await,
            Some(max_wait) => match rt.timeout(max_wait, "", wait).await {
                Ok(permit) => permit,
                Err(_) => return Err(self.reject(BulkheadRejected::MaxWait { max_wait })),
            },
        };
        // The semaphore is private and never closed.
        Ok(permit.expect("the bulkhead's semaphore is never closed"))
    }

    fn reject(&self, why: BulkheadRejected) -> BulkheadRejected {
        let counter = match why {
            BulkheadRejected::QueueFull { .. } => &self.rejected_queue_full,
            BulkheadRejected::MaxWait { .. } => &self.rejected_max_wait,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        super::event!(reason = %why, "bulkhead rejected a call");
        why
    }
}

struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl BulkheadBuilder {
    /// At most `n` callers wait for a slot; more are rejected at once. Zero: never wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Bulkhead, BulkheadRejected};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let bulkhead = Bulkhead::builder(1).max_queue(0).build().unwrap();
    /// let _busy = bulkhead.try_acquire().unwrap();
    /// let err = bulkhead.acquire(&rt).await.unwrap_err(); // does not wait at all
    /// assert_eq!(err, BulkheadRejected::QueueFull { max_queue: 0 });
    /// # });
    /// ```
    pub fn max_queue(mut self, n: usize) -> Self {
        self.max_queue = Some(n);
        self
    }

    /// A caller waits at most `d` for a slot, then is rejected.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Bulkhead, ConfigError};
    ///
    /// let bulkhead = Bulkhead::builder(4).max_wait(Duration::from_millis(250)).build();
    /// assert!(bulkhead.is_ok());
    /// let err = Bulkhead::builder(4).max_wait(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "bulkhead max_wait" }); // use `max_queue(0)`
    /// ```
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = Some(d);
        self
    }

    /// Builds the bulkhead.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Zero`] for zero `max_concurrent` or a zero `max_wait` (use `max_queue(0)`
    /// to never wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Bulkhead, ConfigError};
    ///
    /// let bulkhead = Bulkhead::builder(3).max_queue(10).max_wait(Duration::from_secs(1)).build();
    /// assert_eq!(bulkhead.unwrap().max_concurrent(), 3);
    /// let err = Bulkhead::builder(0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "bulkhead max_concurrent" });
    /// ```
    pub fn build(self) -> Result<Bulkhead, ConfigError> {
        if self.max_concurrent == 0 {
            return Err(ConfigError::Zero {
                what: "bulkhead max_concurrent",
            });
        }
        if self.max_wait.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::Zero {
                what: "bulkhead max_wait",
            });
        }
        Ok(Bulkhead {
            inner: Arc::new(Inner {
                max_concurrent: self.max_concurrent,
                max_queue: self.max_queue,
                max_wait: self.max_wait,
                slots: AsyncSemaphore::new(self.max_concurrent),
                queued: AtomicUsize::new(0),
                in_flight: AtomicUsize::new(0),
                admitted: AtomicU64::new(0),
                rejected_queue_full: AtomicU64::new(0),
                rejected_max_wait: AtomicU64::new(0),
            }),
        })
    }
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("max_concurrent", &self.inner.max_concurrent)
            .field("max_queue", &self.inner.max_queue)
            .field("max_wait", &self.inner.max_wait)
            .field("stats", &self.stats())
            .finish()
    }
}

/// How a [`Slot`] holds its bulkhead: borrowed by calls that hold the slot within their own
/// future (`run`, the pipeline: no reference count is touched), owned (an `Arc`) by a
/// [`BulkheadPermit`]. The semaphore permit follows the same form.
pub(crate) trait Holder: Deref<Target = Inner> + Clone {
    type Permit;
    type Wait: Future<Output = Result<Self::Permit, AcquireError>>;

    fn try_permit(&self) -> Option<Self::Permit>;
    fn wait(&self) -> Self::Wait;
}

impl<'a> Holder for &'a Inner {
    type Permit = SemaphorePermit<'a>;
    type Wait = Acquire<'a>;

    fn try_permit(&self) -> Option<SemaphorePermit<'a>> {
        let inner: &'a Inner = self;
        inner.slots.try_acquire().ok()
    }

    fn wait(&self) -> Acquire<'a> {
        let inner: &'a Inner = self;
        inner.slots.acquire()
    }
}

impl Holder for Arc<Inner> {
    type Permit = OwnedSemaphorePermit;
    type Wait = AcquireOwned;

    fn try_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.try_acquire_owned().ok()
    }

    fn wait(&self) -> AcquireOwned {
        self.slots.acquire_owned()
    }
}

/// One slot of a bulkhead, generic over how it holds it (as the semaphore's own `Wait`): taken
/// without waiting if one is free and nobody is queued, else in arrival order within the queue
/// and wait bounds; released (the permit and the in-flight count) when dropped.
pub(crate) struct Slot<S: Holder> {
    _permit: S::Permit,
    bulkhead: S,
}

/// A slot borrowed from a [`Bulkhead`] (see [`Bulkhead::try_enter`]).
pub(crate) type BorrowedSlot<'a> = Slot<&'a Inner>;

impl<S: Holder> Slot<S> {
    fn try_take(bulkhead: &S) -> Option<Self> {
        let permit = bulkhead.try_permit()?;
        Some(Self::admit(bulkhead.clone(), permit))
    }

    async fn take(bulkhead: &S, rt: &Runtime) -> Result<Self, BulkheadRejected> {
        if let Some(slot) = Self::try_take(bulkhead) {
            return Ok(slot);
        }
        // Boxed: waiting allocates anyway (the semaphore's waiter), and the futures of the
        // callers (`run`, the pipeline) stay small on the happy path, where they are moved.
        let permit = Box::pin(bulkhead.wait_for(rt, bulkhead.wait())).await?;
        Ok(Self::admit(bulkhead.clone(), permit))
    }

    fn admit(bulkhead: S, permit: S::Permit) -> Self {
        bulkhead.admitted.fetch_add(1, Ordering::Relaxed);
        bulkhead.in_flight.fetch_add(1, Ordering::Relaxed);
        Slot {
            _permit: permit,
            bulkhead,
        }
    }
}

impl<S: Holder> Drop for Slot<S> {
    fn drop(&mut self) {
        self.bulkhead.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A slot in a [`Bulkhead`], released when dropped.
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct BulkheadPermit {
    _slot: Slot<Arc<Inner>>,
}

impl fmt::Debug for BulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_lite::future::{block_on, poll_once};

    use super::*;
    use crate::rt::VirtualRuntime;

    fn stats(b: &Bulkhead) -> (usize, usize, u64, u64, u64) {
        let s = b.stats();
        (
            s.in_flight,
            s.queued,
            s.admitted,
            s.rejected_queue_full,
            s.rejected_max_wait,
        )
    }

    #[test]
    fn owned_and_borrowed_slots_share_the_bound_and_the_counters() {
        let b = Bulkhead::builder(2).build().unwrap();
        let owned = b.try_acquire().unwrap();
        let borrowed = b.try_enter().unwrap();
        assert!(
            b.try_acquire().is_none() && b.try_enter().is_none(),
            "both slots taken"
        );
        assert_eq!(stats(&b), (2, 0, 2, 0, 0));
        drop(borrowed);
        assert_eq!(stats(&b).0, 1);
        let again = b.try_enter().expect("the borrowed slot came back");
        drop((owned, again));
        assert_eq!(stats(&b), (0, 0, 3, 0, 0));
    }

    #[test]
    fn a_full_queue_rejects_at_once_and_a_dropped_waiter_leaves_it() {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let b = Bulkhead::builder(1).max_queue(1).build().unwrap();
        let held = b.try_enter().unwrap();
        let mut first = Box::pin(b.enter(&rt));
        assert!(block_on(poll_once(&mut first)).is_none(), "queued");
        assert_eq!(stats(&b).1, 1);
        let second = block_on(poll_once(Box::pin(b.acquire(&rt))));
        let full = BulkheadRejected::QueueFull { max_queue: 1 };
        assert_eq!(second.map(|r| r.unwrap_err()), Some(full));
        drop(first);
        assert_eq!(stats(&b), (1, 0, 1, 1, 0), "the waiter left the queue");
        drop(held);
        assert_eq!(stats(&b).0, 0);
    }

    #[test]
    fn a_waiter_gets_the_released_slot_before_any_newcomer() {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let b = Bulkhead::builder(1).build().unwrap();
        let held = b.try_acquire().unwrap();
        let mut waiter = Box::pin(b.acquire(&rt));
        assert!(block_on(poll_once(&mut waiter)).is_none());
        drop(held);
        assert!(b.try_enter().is_none(), "the slot is handed to the waiter");
        let permit = block_on(waiter).unwrap();
        assert_eq!(stats(&b), (1, 0, 2, 0, 0));
        drop(permit);
        // A waiter granted a slot and dropped before it saw it gives the slot back.
        let held = b.try_enter().unwrap();
        let mut waiter = Box::pin(b.enter(&rt));
        assert!(block_on(poll_once(&mut waiter)).is_none());
        drop(held);
        drop(waiter);
        assert!(b.try_enter().is_some(), "the slot went back");
    }

    #[test]
    fn a_waiter_is_rejected_after_max_wait() {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let max_wait = Duration::from_secs(2);
        let b = Bulkhead::builder(1).max_wait(max_wait).build().unwrap();
        let _held = b.try_acquire().unwrap();
        let start = rt.now();
        let err = vrt.block_on(b.enter(&rt)).err();
        assert_eq!(err, Some(BulkheadRejected::MaxWait { max_wait }));
        assert_eq!(rt.now() - start, max_wait);
        assert_eq!(stats(&b), (1, 0, 1, 0, 1));
    }
}
