//! Building a batcher: sizes, bounds and what to do when the queue is full.

use std::future::Future;
use std::time::Duration;

use super::AsyncBatcher;
use super::error::ConfigError;
use super::operation::BatchResults;
use crate::rt::Runtime;
use crate::sync::MAX_PERMITS;

/// How many full batches the queue holds by default: `max_queued = max_batch_size * 8`.
pub const DEFAULT_QUEUED_BATCHES: usize = 8;

/// What [`add_item`](AsyncBatcher::add_item) does when the queue already holds `max_queued` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Wait until there is room (backpressure). Waiters are served in arrival order.
    #[default]
    Wait,
    /// Fail at once with [`BatchError::Rejected`](super::BatchError::Rejected).
    Reject,
}

/// Configures and builds an [`AsyncBatcher`].
///
/// | setting | default |
/// |---|---|
/// | `max_batch_size` | required |
/// | `max_wait_time` | required |
/// | [`max_in_flight`](Self::max_in_flight): batch operations running at once | 1 |
/// | [`max_queued`](Self::max_queued): items waiting for their batch to start | `max_batch_size * 8` |
/// | [`when_full`](Self::when_full) | [`OverflowPolicy::Wait`] |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::batch::{BatchError, BatcherBuilder, OverflowPolicy};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async {
///     let batcher = BatcherBuilder::new(100, Duration::from_millis(5))
///         .max_in_flight(4)
///         .max_queued(1_000)
///         .when_full(OverflowPolicy::Reject)
///         .build(&rt, |ids: Vec<u64>| async move {
///             // One round trip for the whole batch; an outer `Err` fails the whole batch.
///             Ok::<_, String>(ids.into_iter().map(|id| id * 10).collect::<Vec<_>>())
///         })
///         .unwrap();
///     assert_eq!(batcher.add_item(7).await, Ok(70));
///
///     // A bad configuration is an error, not a panic.
///     assert!(BatcherBuilder::new(0, Duration::from_millis(5))
///         .build(&rt, |v: Vec<u64>| async move { v })
///         .is_err());
/// # let _ = BatchError::<String>::Rejected;
/// });
/// ```
#[derive(Debug, Clone)]
pub struct BatcherBuilder {
    pub(super) max_batch_size: usize,
    pub(super) max_wait_time: Duration,
    pub(super) max_in_flight: usize,
    /// `None`: the default (`max_batch_size * DEFAULT_QUEUED_BATCHES`); `Some(None)`: unbounded.
    max_queued: Option<Option<usize>>,
    pub(super) overflow: OverflowPolicy,
}

/// A validated configuration.
#[derive(Debug, Clone, Copy)]
pub(super) struct Config {
    pub(super) max_batch_size: usize,
    pub(super) max_wait_time: Duration,
    pub(super) max_in_flight: usize,
    /// `None`: unbounded.
    pub(super) max_queued: Option<usize>,
    pub(super) overflow: OverflowPolicy,
}

impl BatcherBuilder {
    /// A batch is flushed as soon as it holds `max_batch_size` items, or when its oldest item has
    /// waited `max_wait_time` (a zero wait flushes whatever arrived together, at the batcher's
    /// next turn).
    pub fn new(max_batch_size: usize, max_wait_time: Duration) -> Self {
        BatcherBuilder {
            max_batch_size,
            max_wait_time,
            max_in_flight: 1,
            max_queued: None,
            overflow: OverflowPolicy::Wait,
        }
    }

    /// How many batch operations may run at once (default 1). Full batches beyond that wait in the
    /// queue, where they count towards [`max_queued`](Self::max_queued).
    pub fn max_in_flight(mut self, max_in_flight: usize) -> Self {
        self.max_in_flight = max_in_flight;
        self
    }

    /// How many items may wait for their batch to start (default `max_batch_size * 8`). When
    /// the queue is full, [`when_full`](Self::when_full) decides. Items whose batch is running do
    /// not count. Must be at least `max_batch_size`. A bound above [`MAX_PERMITS`] means unbounded.
    pub fn max_queued(mut self, max_queued: usize) -> Self {
        self.max_queued = Some(Some(max_queued));
        self
    }

    /// No bound on queued items: `add_item` never waits for room and never rejects.
    pub fn unbounded_queue(mut self) -> Self {
        self.max_queued = Some(None);
        self
    }

    /// Wait for room (the default) or reject when the queue is full.
    pub fn when_full(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = policy;
        self
    }

    pub(super) fn validate(&self) -> Result<Config, ConfigError> {
        if self.max_batch_size == 0 {
            return Err(ConfigError::ZeroBatchSize);
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::ZeroInFlight);
        }
        let max_queued = match self.max_queued {
            None => Some(self.max_batch_size.saturating_mul(DEFAULT_QUEUED_BATCHES)),
            Some(None) => None,
            Some(Some(0)) => return Err(ConfigError::ZeroQueue),
            Some(Some(n)) if n < self.max_batch_size => {
                return Err(ConfigError::QueueSmallerThanBatch {
                    max_queued: n,
                    max_batch_size: self.max_batch_size,
                });
            }
            Some(Some(n)) => Some(n),
        };
        Ok(Config {
            max_batch_size: self.max_batch_size,
            max_wait_time: self.max_wait_time,
            max_in_flight: self.max_in_flight,
            // The queue bound is kept by a semaphore, which holds at most MAX_PERMITS.
            max_queued: max_queued.filter(|&n| n <= MAX_PERMITS),
            overflow: self.overflow,
        })
    }

    /// Builds the batcher on `rt` around `batch_operation`, and starts its background task.
    ///
    /// `batch_operation` gets the items of one batch, in arrival order, and returns one result per
    /// item in the same order: a `Vec<O>`, or a `Result<Vec<O>, E>` whose `Err` fails the whole
    /// batch (see [`BatchResults`]). For per-item errors, let `O` be a `Result` itself.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if a size or bound is zero, or `max_queued < max_batch_size`.
    pub fn build<I, O, E, F, Fut>(
        &self,
        rt: &Runtime,
        batch_operation: F,
    ) -> Result<AsyncBatcher<I, O, E>, ConfigError>
    where
        I: Send + 'static,
        O: Send + 'static,
        E: Clone + Send + 'static,
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: BatchResults<Output = O, Error = E>,
    {
        let config = self.validate()?;
        Ok(AsyncBatcher::start(rt, config, batch_operation))
    }
}
