//! Batching: [`AsyncBatcher`] gathers items from many callers into batches for one operation, and
//! hands each caller its own item's result.
//!
//! A batch is flushed as soon as it holds `max_batch_size` items, or when its **oldest** item has
//! waited `max_wait_time`. That timer belongs to the batcher's one background task, never to a
//! caller, so a caller that gives up cannot strand the others. Batch operations run as tasks on
//! the [`Runtime`], at most `max_in_flight` at a time; items waiting for their batch to start are
//! bounded by `max_queued`, and a caller finding the queue full waits or is rejected
//! ([`OverflowPolicy`]).
//!
//! Every item is answered exactly once: with its result, or with a [`BatchError`] — a batch-wide
//! error, a wrong number of results, a caught panic, or (for items the runtime dropped) a
//! cancellation. Closing the batcher, or dropping its last handle, flushes everything queued.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use uno_core::batch::AsyncBatcher;
//! use uno_core::rt::VirtualRuntime;
//!
//! let vrt = VirtualRuntime::new();
//! let rt = vrt.handle();
//! vrt.block_on(async {
//!     // Look users up by id, up to 50 per round trip, waiting at most 10 ms to fill a batch.
//!     let users = AsyncBatcher::builder(&rt, 50, Duration::from_millis(10))
//!         .name("users")
//!         .build(|ids: Vec<u32>| async move {
//!             ids.into_iter().map(|id| format!("user-{id}")).collect::<Vec<_>>()
//!         })
//!         .unwrap();
//!
//!     let callers: Vec<_> = (0..3)
//!         .map(|id| {
//!             let users = users.clone();
//!             rt.spawn(async move { users.add_item(id).await })
//!         })
//!         .collect();
//!     for (id, caller) in callers.into_iter().enumerate() {
//!         assert_eq!(caller.await.unwrap(), Ok(format!("user-{id}")));
//!     }
//!     // The three lookups went out as one batch, after the 10 ms window.
//!     let report = users.shutdown().await;
//!     assert_eq!(report.flushed_items, 0);
//!     assert_eq!(users.stats().batches_started, 1);
//!     assert_eq!(users.stats().timed_flushes, 1);
//! });
//! ```
//!
//! # Metrics
//!
//! With the `metrics` feature (see [`crate::observe`]), every batcher reports these, each with the
//! batcher's [`name`](BatcherBuilder::name) as its `name` label:
//!
//! | metric | kind | labels | meaning |
//! |---|---|---|---|
//! | `uno_batch_items_added_total` | counter | | items accepted into the queue |
//! | `uno_batch_items_rejected_total` | counter | | items refused because the queue was full ([`OverflowPolicy::Reject`]) |
//! | `uno_batch_flushes_total` | counter | `reason` = `full`, `timed`, `idle`, `close` | batches flushed: full, their oldest item's wait over, a free slot ([`BatcherBuilder::flush_when_idle`]), or the batcher closing |
//! | `uno_batch_size` | histogram | | items per flushed batch |
//! | `uno_batch_operation_duration_seconds` | histogram | | how long each batch operation ran |
//! | `uno_batch_failures_total` | counter | `reason` = `operation`, `result_count`, `panic`, `cancelled` | batches that failed for every item: a batch-wide error, a wrong number of results, a panic, or dropped by the runtime |
//! | `uno_batch_queued_items` | gauge | | items waiting for their batch to start |
//! | `uno_batch_in_flight` | gauge | | batch operations running |
//!
//! # Tracing
//!
//! With the `tracing` feature, events with the target `uno_core::batch`. Items and results are
//! never logged.
//!
//! | event | level | fields |
//! |---|---|---|
//! | `batch flushed` | DEBUG | `name`, `size`, `reason` = `full`, `timed`, `idle`, `close` |
//! | `batch finished` | DEBUG | `name`, `size`, `duration` (of the operation) |
//! | `batch failed` | WARN | `name`, `size`, `reason` = `operation`, `result_count`, `duration` |
//! | `batch operation panicked` | WARN | `name`, `size`, `reason` = `panic`, `duration`, `panic` (the message) |
//! | `batch dropped before it finished` | WARN | `name`, `reason` = `cancelled` (the runtime dropped its task) |
//! | `batcher abandoned by its runtime; queued items are cancelled` | WARN | `name`, `cancelled_items` |
//!
//! - `async_batcher`: [`AsyncBatcher`], the public handle, its [`BatcherStats`] and
//!   [`ShutdownReport`];
//! - `builder`: [`BatcherBuilder`], the configuration, checked once, and [`OverflowPolicy`];
//! - `future`: [`AddItem`], the future of one item;
//! - `operation`: [`BatchResults`], what the batch operation returns, and how it is called;
//! - `shared`: the queue, the timer worker and the batch runners (with their implementation
//!   notes);
//! - `slot`: the one-shot slots that carry each item's result;
//! - `metrics`: the metric handles, registered when the batcher is built, and their table;
//! - `error`: [`BatchError`] and [`BatchConfigError`].
//!
//! [`Runtime`]: crate::rt::Runtime

mod async_batcher;
mod builder;
mod error;
mod future;
mod metrics;
mod operation;
mod shared;
mod slot;

pub use async_batcher::{AsyncBatcher, BatcherStats, ShutdownReport};
pub use builder::{BatcherBuilder, DEFAULT_QUEUED_BATCHES, OverflowPolicy};
pub use error::{BatchConfigError, BatchError};
pub use future::AddItem;
/// The metrics this module reports (see [`crate::observe`]), for `describe_metrics`.
pub(crate) use metrics::METRICS;
pub use operation::BatchResults;
