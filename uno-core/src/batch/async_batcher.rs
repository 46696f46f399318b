//! [`AsyncBatcher`]: the public handle, its counters and its shutdown report. The queue, the
//! timer worker and the batch runners are in `shared`.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::builder::Config;
use super::operation;
use super::shared::{self, Shared};
use super::{AddItem, BatchResults, BatcherBuilder};
use crate::observe::Name;
use crate::rt::Runtime;

/// Groups items from many callers into batches for one batch operation; each caller awaits its own
/// item's result. Clones share one batcher.
///
/// Build it with [`builder`](Self::builder): the batch size and wait are required, the name,
/// bounds and policies are [`BatcherBuilder`] settings. It runs one background task on the
/// [`Runtime`] (the flush timer), plus one task per batch in flight.
///
/// - **Flushing.** A batch goes to the operation as soon as it is full, or when its oldest item has
///   waited `max_wait_time`.
/// - **Results.** The operation returns one result per item, in item order (see [`BatchResults`]).
///   A batch-wide error reaches every waiter of the batch ([`BatchError::Operation`], cloned, so
///   `E: Clone`; wrap other errors in an `Arc`); a wrong number of results fails every item with
///   [`BatchError::ResultCount`]; a panic of the operation — when called, in a poll of its future,
///   or in that future's `Drop` — is caught and fails every item of that batch with
///   [`BatchError::Panicked`]. The batcher goes on with the next batch.
/// - **Bounds.** At most `max_in_flight` batch operations run at once; at most `max_queued` items
///   wait for their batch to start. When the queue is full, [`add_item`](Self::add_item) waits or
///   is rejected ([`OverflowPolicy`]).
/// - **Closing.** [`close`](Self::close), [`shutdown`](Self::shutdown) and dropping the last handle
///   flush every queued item; items added afterwards get [`BatchError::Closed`]. If the runtime
///   shuts down first, queued items are answered [`BatchError::Cancelled`]: none is lost silently.
///
/// # Examples
///
/// Per-item results and a batch-wide error:
///
/// ```
/// use std::time::Duration;
/// use uno_core::batch::{AsyncBatcher, BatchError};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async {
///     let parse = AsyncBatcher::builder(&rt, 10, Duration::from_millis(1))
///         .name("parse")
///         .build(|texts: Vec<&'static str>| async move {
///             if texts.contains(&"db down") {
///                 return Err("database unavailable"); // fails the whole batch
///             }
///             let parse = |t: &str| t.parse::<i32>().map_err(|_| "not a number");
///             Ok(texts.into_iter().map(parse).collect())
///         })
///         .unwrap();
///
///     assert_eq!(parse.add_item("42").await, Ok(Ok(42)));
///     assert_eq!(parse.add_item("x").await, Ok(Err("not a number")));
///     let down = parse.add_item("db down").await.unwrap_err();
///     assert_eq!(down.operation_error(), Some(&"database unavailable"));
///     assert!(matches!(down, BatchError::Operation { .. }));
/// });
/// ```
///
/// [`BatchError::Cancelled`]: super::BatchError::Cancelled
/// [`BatchError::Closed`]: super::BatchError::Closed
/// [`BatchError::Operation`]: super::BatchError::Operation
/// [`BatchError::Panicked`]: super::BatchError::Panicked
/// [`BatchError::ResultCount`]: super::BatchError::ResultCount
/// [`OverflowPolicy`]: super::OverflowPolicy
pub struct AsyncBatcher<I, O, E = Infallible>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    shared: Arc<Shared<I, O, E>>,
}

/// Counters of an [`AsyncBatcher`], from [`AsyncBatcher::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatcherStats {
    /// Items accepted into the queue.
    pub items_added: u64,
    /// Items refused because the queue was full ([`OverflowPolicy::Reject`]).
    ///
    /// [`OverflowPolicy::Reject`]: super::OverflowPolicy::Reject
    pub items_rejected: u64,
    /// Batches handed to the operation.
    pub batches_started: u64,
    /// Batches that finished with an error for every item (batch-wide error, wrong result count,
    /// panic, or dropped by the runtime).
    pub batches_failed: u64,
    /// Batches flushed because they were full.
    pub full_flushes: u64,
    /// Batches flushed because their oldest item had waited `max_wait_time`.
    pub timed_flushes: u64,
    /// Batches flushed because a batch slot was free
    /// ([`flush_when_idle`](super::BatcherBuilder::flush_when_idle)).
    pub idle_flushes: u64,
    /// Batches flushed by closing the batcher.
    pub close_flushes: u64,
    /// Items waiting for their batch to start, now.
    pub queued_items: usize,
    /// Batch operations running, now.
    pub batches_in_flight: usize,
}

/// What closing an [`AsyncBatcher`] flushed, from [`AsyncBatcher::close`] and
/// [`AsyncBatcher::shutdown`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Items that were queued when the batcher closed; each went to the operation afterwards.
    pub flushed_items: usize,
    /// The batches those items formed.
    pub flushed_batches: usize,
    /// Batches already running when the batcher closed.
    pub running_batches: usize,
    /// Items answered [`BatchError::Cancelled`] without running, because the runtime stopped
    /// running the batcher's tasks (it shut down). Zero after a normal close.
    ///
    /// [`BatchError::Cancelled`]: super::BatchError::Cancelled
    pub cancelled_items: usize,
}

impl<I, O, E> AsyncBatcher<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    /// Starts configuring a batcher whose timer and batches run on `rt`: a batch is flushed as
    /// soon as it holds `max_batch_size` items, or when its oldest item has waited
    /// `max_wait_time` (a zero wait flushes whatever arrived together, at the batcher's next turn).
    ///
    /// The other settings have defaults (one batch in flight, up to `max_batch_size * 8` queued
    /// items, waiting when full; see [`BatcherBuilder`]);
    /// [`build`](BatcherBuilder::build) takes the batch operation, checks the configuration and
    /// starts the batcher's background task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::{AsyncBatcher, BatchConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async {
    ///
    /// let square = |xs: Vec<u64>| async move {
    ///     xs.into_iter().map(|x| x * x).collect::<Vec<_>>()
    /// };
    /// let batcher = AsyncBatcher::builder(&rt, 32, Duration::from_millis(5)).build(square).unwrap();
    /// assert_eq!(batcher.add_item(9).await, Ok(81));
    /// let err = AsyncBatcher::builder(&rt, 0, Duration::from_millis(5)).build(square).unwrap_err();
    /// assert_eq!(err, BatchConfigError::ZeroBatchSize);
    /// # });
    /// ```
    pub fn builder(
        rt: &Runtime,
        max_batch_size: usize,
        max_wait_time: Duration,
    ) -> BatcherBuilder<I, O, E> {
        BatcherBuilder::new(rt, max_batch_size, max_wait_time)
    }

    pub(super) fn start<F, Fut>(
        rt: &Runtime,
        name: Name,
        config: Config,
        batch_operation: F,
    ) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: BatchResults<Output = O, Error = E>,
    {
        let shared = shared::start(rt, name, config, operation::erase(batch_operation));
        AsyncBatcher { shared }
    }

    /// The batcher's name, from [`BatcherBuilder::name`] (default `"batcher"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::AsyncBatcher;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let echo = |v: Vec<u8>| async move { v };
    /// let batcher = AsyncBatcher::builder(&rt, 8, Duration::ZERO).build(echo).unwrap();
    /// assert_eq!(batcher.name(), "batcher");
    /// ```
    pub fn name(&self) -> &str {
        self.shared.name.as_str()
    }

    /// Adds `item` to the current batch and waits for its own result.
    ///
    /// If the queue is full, waits for room or fails with [`BatchError::Rejected`], as configured.
    ///
    /// # Errors
    ///
    /// [`BatchError`]: the batch failed as a whole (`Operation`, `ResultCount`, `Panicked`), the
    /// item was refused (`Rejected`, `Closed`), or the runtime dropped its batch (`Cancelled`).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits for room queues nothing. Dropping it once the item is
    /// queued does not cancel the batch or affect any other caller: the item is still processed,
    /// and its result is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::{AsyncBatcher, BatchError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async {
    ///
    /// // Returns one result too few: no result can be matched to its item.
    /// let broken = |xs: Vec<u32>| async move { xs.into_iter().skip(1).collect::<Vec<u32>>() };
    /// let batcher = AsyncBatcher::builder(&rt, 4, Duration::from_millis(1)).build(broken).unwrap();
    /// let err = batcher.add_item(1).await.unwrap_err();
    /// assert!(matches!(err, BatchError::ResultCount { expected: 1, actual: 0, .. }));
    /// # });
    /// ```
    ///
    /// [`BatchError`]: super::BatchError
    /// [`BatchError::Rejected`]: super::BatchError::Rejected
    pub fn add_item(&self, item: I) -> AddItem<'_, I, O, E> {
        AddItem::new(&self.shared, item)
    }

    /// Closes the batcher: flushes the batch being filled at once (without waiting for its
    /// window), keeps running what is queued, and refuses new items with [`BatchError::Closed`]
    /// (callers waiting for room get it too). Does not wait; see [`shutdown`](Self::shutdown).
    ///
    /// Returns what was queued at the time of the first close; closing again changes nothing and
    /// returns the same report.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::{AsyncBatcher, BatchError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async {
    ///
    /// let echo = |v: Vec<u32>| async move { v };
    /// let batcher = AsyncBatcher::builder(&rt, 10, Duration::from_secs(60)).build(echo).unwrap();
    /// let waiting = {
    ///     let batcher = batcher.clone();
    ///     rt.spawn(async move { batcher.add_item(1).await })
    /// };
    /// rt.sleep(Duration::from_millis(1)).await; // item 1 is queued, its window far from over
    /// let report = batcher.close(); // flushes it now
    /// assert_eq!((report.flushed_items, report.flushed_batches), (1, 1));
    /// assert_eq!(waiting.await.unwrap(), Ok(1));
    /// assert!(matches!(batcher.add_item(2).await, Err(BatchError::Closed { .. })));
    /// # });
    /// ```
    ///
    /// [`BatchError::Closed`]: super::BatchError::Closed
    pub fn close(&self) -> ShutdownReport {
        self.shared.close()
    }

    /// Closes the batcher (see [`close`](Self::close)) and waits until every queued and running
    /// batch has finished and answered its callers.
    ///
    /// To bound the wait, wrap it in [`Runtime::timeout`].
    ///
    /// # Cancel safety
    ///
    /// The batcher is closed when `shutdown` is called, before the future is first polled.
    /// Dropping the future only stops the waiting; the flushed batches still run to completion.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::AsyncBatcher;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async {
    ///
    /// let clock = rt.clone();
    /// let slow = move |v: Vec<u32>| {
    ///     let clock = clock.clone();
    ///     async move { clock.sleep(Duration::from_secs(3)).await; v }
    /// };
    /// let batcher = AsyncBatcher::builder(&rt, 10, Duration::ZERO).build(slow).unwrap();
    /// let b = batcher.clone();
    /// rt.spawn(async move { b.add_item(1).await }).detach();
    /// rt.sleep(Duration::from_millis(1)).await; // its batch is running now
    /// let drained = rt.timeout(Duration::from_secs(10), "draining", batcher.shutdown());
    /// let report = drained.await.unwrap();
    /// assert_eq!(report.running_batches, 1);
    /// assert_eq!(batcher.stats().batches_in_flight, 0); // everything has finished
    /// # });
    /// ```
    pub fn shutdown(&self) -> impl Future<Output = ShutdownReport> + Send + '_ {
        self.close();
        async move {
            self.shared.drained.wait().await;
            self.shared.report()
        }
    }

    /// Whether the batcher is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::AsyncBatcher;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let echo = |v: Vec<u32>| async move { v };
    /// let batcher = AsyncBatcher::builder(&rt, 10, Duration::ZERO).build(echo).unwrap();
    /// assert!(!batcher.is_closed());
    /// let clone = batcher.clone();
    /// batcher.close();
    /// assert!(clone.is_closed()); // clones share one batcher
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// A snapshot of the counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::AsyncBatcher;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async {
    ///
    /// let echo = |v: Vec<u32>| async move { v };
    /// let batcher = AsyncBatcher::builder(&rt, 2, Duration::from_millis(5)).build(echo).unwrap();
    /// let callers: Vec<_> = (0..3).map(|i| {
    ///     let batcher = batcher.clone();
    ///     rt.spawn(async move { batcher.add_item(i).await })
    /// }).collect();
    /// for caller in callers {
    ///     caller.await.unwrap().unwrap();
    /// }
    /// let stats = batcher.stats();
    /// assert_eq!((stats.items_added, stats.batches_started), (3, 2));
    /// // [0, 1] went when full, [2] after waiting 5 ms.
    /// assert_eq!((stats.full_flushes, stats.timed_flushes), (1, 1));
    /// # });
    /// ```
    pub fn stats(&self) -> BatcherStats {
        self.shared.stats()
    }

    /// The largest number of items in one batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::AsyncBatcher;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let echo = |v: Vec<u8>| async move { v };
    /// let batcher = AsyncBatcher::builder(&rt, 64, Duration::ZERO).build(echo).unwrap();
    /// assert_eq!(batcher.max_batch_size(), 64);
    /// ```
    pub fn max_batch_size(&self) -> usize {
        self.shared.config.max_batch_size
    }

    /// How long the oldest item of a batch waits, at most, before the batch is flushed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::batch::AsyncBatcher;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async {
    ///
    /// let echo = |v: Vec<u8>| async move { v };
    /// let batcher = AsyncBatcher::builder(&rt, 64, Duration::from_millis(20)).build(echo).unwrap();
    /// assert_eq!(batcher.max_wait_time(), Duration::from_millis(20));
    /// let start = rt.now();
    /// batcher.add_item(1).await.unwrap(); // alone: waits the full window for company
    /// assert_eq!(rt.now() - start, Duration::from_millis(20));
    /// # });
    /// ```
    pub fn max_wait_time(&self) -> Duration {
        self.shared.config.max_wait_time
    }
}

impl<I, O, E> Clone for AsyncBatcher<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        AsyncBatcher {
            shared: self.shared.clone(),
        }
    }
}

impl<I, O, E> Drop for AsyncBatcher<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    /// Dropping the last handle closes the batcher, which flushes every queued item.
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl<I, O, E> fmt::Debug for AsyncBatcher<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncBatcher")
            .field("name", &self.shared.name)
            .field("max_batch_size", &self.shared.config.max_batch_size)
            .field("max_wait_time", &self.shared.config.max_wait_time)
            .field("max_in_flight", &self.shared.config.max_in_flight)
            .field("max_queued", &self.shared.config.max_queued)
            .field("overflow", &self.shared.config.overflow)
            .field("closed", &self.is_closed())
            .field("stats", &self.stats())
            .finish()
    }
}
