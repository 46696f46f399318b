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
//! - `async_cache`: [`AsyncCache`], the public handle;
//! - `builder`: [`CacheBuilder`], the configuration, checked once;
//! - `future`: [`Get`], the future of a read;
//! - `load`: reads, loads and refreshes, the single-flight machinery (with its implementation
//!   notes);
//! - `flight`: one load's shared outcome, and the runner that contains a fetch's panics and
//!   timeout;
//! - `store`: the shards, their index and sampled-LRU eviction;
//! - `stats`: [`CacheStats`] and the counters behind it;
//! - `error`: [`CacheError`] and [`CacheConfigError`].
//!
//! [`Runtime`]: crate::rt::Runtime

mod async_cache;
mod builder;
mod error;
mod flight;
mod future;
mod load;
mod stats;
mod store;

pub use async_cache::AsyncCache;
pub use builder::CacheBuilder;
pub use error::{CacheConfigError, CacheError};
pub use future::Get;
pub use stats::CacheStats;

/// The metrics this module reports (see [`crate::observe`]), for `describe_metrics`.
pub(crate) const METRICS: &[crate::observe::Description] = &[];
