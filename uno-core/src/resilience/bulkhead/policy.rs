//! [`Bulkhead`]: the public handle, its slots and its counters.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use super::BulkheadBuilder;
use super::permit::{BorrowedSlot, BulkheadAcquire, BulkheadPermit, Slot, SlotWait};
use crate::observe::{Counter, Gauge, Name};
use crate::resilience::{BulkheadRejected, ResilienceError};
use crate::rt::Runtime;
use crate::sync::AsyncSemaphore;

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
/// let bulkhead = Bulkhead::builder(&rt, 1).max_queue(0).build().unwrap();
/// vrt.block_on(async move {
///     let held = bulkhead.acquire().await.unwrap();
///     let refused = bulkhead.run(|| async { Ok::<_, ()>(()) }).await.unwrap_err();
///     assert!(matches!(
///         refused,
///         ResilienceError::Rejected(BulkheadRejected::QueueFull { max_queue: 0, .. })
///     ));
///     drop(held);
///     assert_eq!(bulkhead.run(|| async { Ok::<_, ()>(7) }).await, Ok(7));
/// });
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    pub(super) inner: Arc<Inner>,
}

/// The state clones share: the settings, the slots (a semaphore), the queue count and the
/// counters.
pub(crate) struct Inner {
    pub(super) rt: Runtime,
    pub(super) name: Name,
    pub(super) metrics: Metrics,
    pub(super) max_concurrent: u32,
    pub(super) max_queue: Option<usize>,
    pub(super) max_wait: Option<Duration>,
    pub(super) slots: AsyncSemaphore,
    pub(super) queued: AtomicUsize,
    pub(super) in_flight: AtomicUsize,
    pub(super) admitted: AtomicU64,
    pub(super) rejected_queue_full: AtomicU64,
    pub(super) rejected_max_wait: AtomicU64,
}

/// The bulkhead's metric handles, registered once when it is built.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(super) in_flight: Gauge,
    pub(super) queued: Gauge,
    pub(super) full: Counter,
    pub(super) timed_out: Counter,
}

/// The metrics of a bulkhead (see the module's "Metrics").
pub(crate) const IN_FLIGHT: &str = "uno_bulkhead_in_flight";
pub(crate) const QUEUED: &str = "uno_bulkhead_queued";

impl Metrics {
    pub(super) fn new(name: &Name) -> Self {
        let rejections = crate::resilience::REJECTIONS;
        Metrics {
            in_flight: Gauge::new(IN_FLIGHT, name, &[]),
            queued: Gauge::new(QUEUED, name, &[]),
            full: Counter::new(rejections, name, &[("reason", "bulkhead_full")]),
            timed_out: Counter::new(rejections, name, &[("reason", "bulkhead_timeout")]),
        }
    }
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

impl Bulkhead {
    /// A builder for at most `max_concurrent` calls in flight, with an unbounded queue and no
    /// wait limit; `max_wait` is measured on `rt`'s clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Bulkhead, ConfigError};
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let bulkhead = Bulkhead::builder(&rt, 5).build().unwrap();
    /// assert_eq!(bulkhead.max_concurrent(), 5);
    /// let err = Bulkhead::builder(&rt, 0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "bulkhead max_concurrent" });
    /// ```
    pub fn builder(rt: &Runtime, max_concurrent: u32) -> BulkheadBuilder {
        BulkheadBuilder::new(rt, max_concurrent)
    }

    /// The bulkhead's name (default `"bulkhead"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Bulkhead;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// assert_eq!(Bulkhead::builder(&rt, 1).build().unwrap().name(), "bulkhead");
    /// ```
    pub fn name(&self) -> &str {
        self.inner.name.as_str()
    }

    /// Takes a slot without waiting, if one is free and nobody is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Bulkhead;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let bulkhead = Bulkhead::builder(&rt, 1).build().unwrap();
    /// let permit = bulkhead.try_acquire().expect("a slot is free");
    /// assert!(bulkhead.try_acquire().is_none()); // the only slot is taken
    /// drop(permit);
    /// assert!(bulkhead.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<BulkheadPermit> {
        let slot = Slot::try_take(&self.inner)?;
        Some(BulkheadPermit::new(slot))
    }

    /// Waits for a slot, in arrival order. The future is owned (`'static`): it holds a clone of
    /// the bulkhead.
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
    /// let bulkhead = Bulkhead::builder(&rt, 1).max_wait(Duration::from_secs(2)).build().unwrap();
    /// let permit = bulkhead.acquire().await.unwrap();
    /// assert_eq!(bulkhead.stats().in_flight, 1);
    /// let err = bulkhead.acquire().await.unwrap_err(); // waits 2 s for the held slot
    /// let max_wait = Duration::from_secs(2);
    /// assert!(matches!(err, BulkheadRejected::MaxWait { max_wait: waited, .. } if waited == max_wait));
    /// drop(permit);
    /// assert!(bulkhead.acquire().await.is_ok());
    /// # });
    /// ```
    pub fn acquire(&self) -> BulkheadAcquire {
        BulkheadAcquire::new(self.inner.clone())
    }

    /// Takes a slot without waiting, or refuses as a full bulkhead (counted and reported as
    /// one): for callers that shed load instead of queueing (the `tower` layer's `shed()`).
    #[cfg_attr(
        not(feature = "tower"),
        allow(dead_code, reason = "used by the tower layer")
    )]
    pub(crate) fn try_acquire_or_shed(&self) -> Result<BulkheadPermit, BulkheadRejected> {
        self.try_acquire().ok_or_else(|| {
            let name = self.inner.name.shared();
            self.inner
                .reject(BulkheadRejected::QueueFull { name, max_queue: 0 })
        })
    }

    /// A slot borrowed from the bulkhead, for calls that hold it within their own future
    /// (`run`, the pipeline): the same as [`acquire`](Self::acquire) without the reference
    /// counting of an owned permit.
    pub(crate) fn try_enter(&self) -> Option<BorrowedSlot<'_>> {
        Slot::try_take(&&*self.inner)
    }

    /// Waits for a borrowed slot; see [`try_enter`](Self::try_enter).
    pub(crate) fn enter(&self) -> SlotWait<&Inner> {
        Slot::take(&*self.inner)
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
    /// let bulkhead = Bulkhead::builder(&rt, 2).build().unwrap();
    /// let ok = bulkhead.run(|| async { Ok::<_, &str>(1) }).await;
    /// assert_eq!(ok, Ok(1));
    /// let failed = bulkhead.run(|| async { Err::<i32, _>("boom") }).await;
    /// assert_eq!(failed, Err(ResilienceError::Inner("boom")));
    /// assert_eq!(bulkhead.stats().in_flight, 0); // the slot was released both times
    /// # });
    /// ```
    pub async fn run<T, E, F, Fut>(&self, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let _slot = self.enter().await?;
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
    /// let bulkhead = Bulkhead::builder(&rt, 2).build().unwrap();
    /// let timeout = TimeoutPolicy::builder(&rt, Duration::from_secs(1)).build().unwrap();
    /// let out: Result<(), ResilienceError<()>> = bulkhead
    ///     .run_flat(|| timeout.run(|| std::future::pending()))
    ///     .await;
    /// assert!(out.unwrap_err().is_timeout()); // not ResilienceError<ResilienceError<()>>
    /// # });
    /// ```
    pub async fn run_flat<T, E, F, Fut>(&self, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        let _slot = self.enter().await?;
        op().await
    }

    /// The configured bound on calls in flight.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Bulkhead;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let bulkhead = Bulkhead::builder(&rt, 8).build().unwrap();
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
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let bulkhead = Bulkhead::builder(&rt, 1).max_queue(0).build().unwrap();
    /// let _permit = bulkhead.try_acquire().unwrap();
    /// # futures_lite::future::block_on(async {
    /// assert!(bulkhead.acquire().await.is_err()); // queue of zero: rejected at once
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

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &self.inner.name)
            .field("max_concurrent", &self.inner.max_concurrent)
            .field("max_queue", &self.inner.max_queue)
            .field("max_wait", &self.inner.max_wait)
            .field("stats", &self.stats())
            .finish()
    }
}
