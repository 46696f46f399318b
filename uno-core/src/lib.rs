//! uno: a runtime-neutral async toolkit.
//!
//! `uno-core` knows no executor. It defines the seam an executor plugs into — a [`Spawner`] and a
//! [`Timer`], bundled in a [`Runtime`] handle — and builds everything else on top, so it behaves
//! the same on tokio, smol, async-std or the deterministic [`VirtualRuntime`]:
//!
//! - [`task`]: a [`Task`] handle with one drop policy (dropping cancels) and panics as values;
//!   structured concurrency with [`TaskGroup`](task::TaskGroup), a registry of named tasks
//!   ([`TaskManager`](task::TaskManager)) and [`shield`](task::shield)ed cleanup;
//! - [`time`]: sleeps, [`timeout()`] with a message, and the [`VirtualClock`];
//! - [`sync`]: [`AsyncLock`](sync::AsyncLock), [`AsyncRwLock`](sync::AsyncRwLock),
//!   [`AsyncSemaphore`](sync::AsyncSemaphore), [`AsyncEvent`](sync::AsyncEvent),
//!   [`CancellationToken`](sync::CancellationToken) and [`cancellable`](sync::cancellable);
//! - [`resilience`]: retry with backoff, timeouts, a rate limiter, a bulkhead and a circuit
//!   breaker, composed in the Uno decorator order by a [`Pipeline`](resilience::Pipeline);
//! - [`batch`]: the [`AsyncBatcher`](batch::AsyncBatcher);
//! - [`cache`]: the [`AsyncCache`](cache::AsyncCache) with refresh-ahead and single-flight loads;
//! - [`lifecycle`]: the [`AsyncManager`](lifecycle::AsyncManager),
//!   [`run_application`](lifecycle::run_application) and the
//!   [`AsyncContextGroup`](lifecycle::AsyncContextGroup).
//!
//! Adapters: `uno-tokio`, `uno-smol`, `uno-async-std`. Each hands out a [`Runtime`].
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use uno_core::rt::VirtualRuntime;
//! use uno_core::sync::AsyncSemaphore;
//!
//! let vrt = VirtualRuntime::new(); // any adapter's Runtime works the same
//! let rt = vrt.handle();
//! vrt.block_on(async move {
//!     let slots = AsyncSemaphore::new(2);
//!     let mut tasks = Vec::new();
//!     for i in 0..4u64 {
//!         let (rt2, slots) = (rt.clone(), slots.clone());
//!         tasks.push(rt.spawn(async move {
//!             let _permit = slots.acquire().await.unwrap();
//!             rt2.sleep(Duration::from_secs(1)).await;
//!             i
//!         }));
//!     }
//!     let start = rt.now();
//!     for task in tasks {
//!         task.await.unwrap();
//!     }
//!     // Four one-second jobs, two at a time: two seconds of (virtual) time.
//!     assert_eq!(rt.now() - start, Duration::from_secs(2));
//! });
//! ```
//!
//! # Features
//!
//! None is on by default; none pulls in an executor.
//!
//! | feature | enables | costs |
//! |---|---|---|
//! | `tracing` | `tracing` events and spans from the policies, cache, batcher, tasks and lifecycle (each module's docs list them under "Tracing"; targets are the module paths, such as `uno_core::lifecycle`) | the `tracing` crate (`std` only); with no subscriber interested, an event is one interest check. Without the feature the events compile to nothing |
//! | `metrics` | metrics through the [`metrics`](https://docs.rs/metrics) facade, for any recorder (each module's docs list them under "Metrics"; [`observe::describe_metrics`] registers their descriptions) | the `metrics` crate; each component registers its handles once, when it is built (a registry look-up each), then a count is one call on a handle. Without the feature the handles are zero-sized |
//! | `tower` | `uno_core::tower`: the resilience policies as tower layers, for axum, tonic and hyper stacks (named services and futures; backpressure through `poll_ready`) | `tower-service` and `tower-layer` (traits only, no executor); no allocation per request over a ready service |
//!
//! The adapters (`uno-tokio`, `uno-smol`, `uno-async-std`) have `tracing` and `metrics` features
//! that switch these on.
//!
//! [`Spawner`]: rt::Spawner
//! [`Timer`]: time::Timer
//! [`Runtime`]: rt::Runtime
//! [`VirtualRuntime`]: rt::VirtualRuntime
//! [`VirtualClock`]: time::VirtualClock
//! [`Task`]: task::Task

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]

pub mod batch;
pub mod cache;
pub mod lifecycle;
mod loom;
pub mod observe;
mod panic;
pub mod resilience;
pub mod rt;
pub mod sync;
pub mod task;
pub mod time;
#[cfg(feature = "tower")]
pub mod tower;

pub use rt::Runtime;
pub use task::{JoinError, Task};
pub use time::{Elapsed, timeout, timeout_at};
