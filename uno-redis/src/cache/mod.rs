//! [`TwoLevelCache`]: uno's in-process [`AsyncCache`](uno_core::cache::AsyncCache) (L1) in front
//! of Redis (L2), shared by every instance of a service: one fetch per key across all of them
//! (a lease with a TTL, taken over when its holder dies), invalidation broadcast to every L1
//! (pub/sub), refresh-ahead done by one instance, and a [`FailurePolicy`](crate::FailurePolicy)
//! for Redis being slow or down.
//!
//! ```
//! use std::time::Duration;
//! use uno_redis::Redis;
//! use uno_redis::cache::TwoLevelCache;
//! use uno_redis::JsonCodec;
//!
//! # futures_lite::future::block_on(async {
//! let rt = uno_smol::runtime();
//! # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
//! let Ok(redis) = Redis::builder(&rt, &url).build().await else {
//!     return println!("Redis is not reachable: skipping");
//! };
//! let name = format!("doc:cache:{}", std::process::id());
//! let profiles = TwoLevelCache::<u64, Vec<String>, std::io::Error, _>::builder(&redis, &name, JsonCodec)
//!     .ttl(Duration::from_secs(300))
//!     .l1_ttl(Duration::from_secs(30))
//!     .build().await
//!     .unwrap();
//! let roles = profiles.get(&42, || async { Ok(vec!["admin".to_owned()]) }).await.unwrap();
//! assert_eq!(roles, ["admin"]);
//! profiles.invalidate(&42).await.unwrap();
//! # });
//! ```
//!
//! See [`TwoLevelCache`] for what is guaranteed, and the `load` module's implementation notes
//! (in the source) for the protocol.
//!
//! - `two_level`: [`TwoLevelCache`], the public handle;
//! - `builder`: [`TwoLevelCacheBuilder`], the configuration, checked once;
//! - `load`: loads and refreshes through Redis, the cross-process single-flight (with its
//!   implementation notes);
//! - `l2`: every Redis call, the key layout, the channel messages and the Lua scripts;
//! - `subscriber`: the task that hears invalidations and fills;
//! - `notices`: how a waiting load is woken by a fill in this process;
//! - `health`: skipping Redis for a moment after it failed;
//! - `stats`: [`TwoLevelStats`];
//! - `error`: [`TwoLevelError`].

mod builder;
mod error;
mod health;
mod l2;
mod load;
mod notices;
mod stats;
mod subscriber;
mod two_level;

pub use builder::{MAX_DURATION, TwoLevelCacheBuilder};
pub use error::TwoLevelError;
pub use stats::TwoLevelStats;
pub use two_level::TwoLevelCache;
