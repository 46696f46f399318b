//! [`AsyncCache`]: a loading cache with TTL, refresh-before-expiry, single-flight loads, a capacity
//! bound and statistics, on any [`Runtime`].
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use uno_core::cache::AsyncCache;
//! use uno_core::rt::VirtualRuntime;
//!
//! let vrt = VirtualRuntime::new();
//! let rt = vrt.handle();
//! vrt.block_on(async move {
//!     let users: AsyncCache<u64, Arc<str>, std::io::Error> = AsyncCache::builder(&rt)
//!         .max_capacity(1_000)
//!         .ttl(Duration::from_secs(60))
//!         .refresh_after(Duration::from_secs(50))
//!         .build()
//!         .unwrap();
//!
//!     let name = users.get(7, || async { Ok(Arc::from("ada")) }).await.unwrap();
//!     assert_eq!(&*name, "ada");
//!     // A hit: the fetch is not called.
//!     let again = users.get(7, || async { unreachable!() }).await.unwrap();
//!     assert_eq!(&*again, "ada");
//!     assert_eq!(users.stats().hits, 1);
//! });
//! ```
//!
//! See [`AsyncCache`] for the design (what runs where, and what is guaranteed).
//!
//! # Metrics
//!
//! With the `metrics` feature (see [`crate::observe`]), every cache reports these, each with the
//! cache's [`name`](CacheBuilder::name) as its `name` label:
//!
//! | metric | kind | labels | meaning |
//! |---|---|---|---|
//! | `uno_cache_hits_total` | counter | | reads answered from the cache (a fresh value, one in its refresh window, or a cached error) |
//! | `uno_cache_misses_total` | counter | | reads that waited for a load, their own or a shared one |
//! | `uno_cache_loads_total` | counter | `outcome` = `ok`, `error` | loads finished (an `error` is any [`CacheError`]) |
//! | `uno_cache_load_duration_seconds` | histogram | | from the miss that started a load to its outcome |
//! | `uno_cache_refreshes_total` | counter | `outcome` = `ok`, `error` | background refreshes finished |
//! | `uno_cache_evictions_total` | counter | | entries removed to make room under the capacity bound |
//! | `uno_cache_invalidations_total` | counter | | entries removed by [`invalidate`](AsyncCache::invalidate) or [`clear`](AsyncCache::clear) |
//! | `uno_cache_entries` | gauge | | entries held, expired ones not yet removed included |
//!
//! # Tracing
//!
//! With the `tracing` feature, events with the target `uno_core::cache`. Keys are never logged
//! (they may be secret, and are unbounded); neither are values or errors, which are returned to
//! the readers.
//!
//! | event | level | fields |
//! |---|---|---|
//! | `cache load finished` | DEBUG | `name`; `outcome` = `ok`, `error`, `panic`, `timeout`, `cancelled`; `duration` (from the miss) |
//! | `cache refresh finished` | DEBUG | `name`, `outcome` = `ok`, `duration` |
//! | `cache refresh failed` | WARN | `name`; `outcome` = `error`, `panic`, `timeout`, `cancelled`; `duration` (the old value is kept until it expires) |
//!
//! - `async_cache`: [`AsyncCache`], the public handle;
//! - `builder`: [`CacheBuilder`], the configuration, checked once;
//! - `clock`: where the cache reads the time (the runtime's cheap monotonic clock if it lends one);
//! - `future`: [`Get`], the future of a read;
//! - `hasher`: [`DefaultHashBuilder`], the hasher unless the builder is given one;
//! - `load`: reads, loads and refreshes, the single-flight machinery (with its implementation
//!   notes);
//! - `flight`: one load's shared outcome and the hand-over of its fetch between readers, the
//!   table of loads in flight, and the runner that contains a fetch's panics and timeout;
//! - `store`: the shards, their index and sampled-LRU eviction;
//! - `stats`: [`CacheStats`] and the counters behind it;
//! - `metrics`: the metric handles, registered when the cache is built, and their table;
//! - `error`: [`CacheError`] and [`CacheConfigError`].
//!
//! [`Runtime`]: crate::rt::Runtime

mod async_cache;
mod builder;
mod clock;
mod error;
mod flight;
mod future;
mod hasher;
mod load;
mod metrics;
mod stats;
mod store;

pub use async_cache::AsyncCache;
pub use builder::CacheBuilder;
pub use error::{CacheConfigError, CacheError};
pub use future::Get;
pub use hasher::DefaultHashBuilder;
/// The metrics this module reports (see [`crate::observe`]), for `describe_metrics`.
pub(crate) use metrics::METRICS;
pub use stats::CacheStats;
