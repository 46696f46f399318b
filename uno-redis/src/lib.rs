//! Shared state for many instances of a uno service, on Redis.
//!
//! uno's policies keep their state in one process: eight replicas behind a load balancer get
//! eight times the rate limit they asked for, and nothing runs "on one instance only". This crate
//! keeps that state in Redis, behind the same shapes as the in-process policies:
//!
//! | component | what it shares | in-process counterpart |
//! |---|---|---|
//! | [`RedisRateLimiter`] | a GCRA limit, keyed ([`RateKey`]), one atomic script per check on the server's clock; idle keys expire | `uno_core::resilience::RateLimiter` (both implement `RateLimit`) |
//! | [`Lease`] / [`LeaseConfig`] | "one instance at a time", with fencing tokens, renewed in the background, released on drop | `uno_core::sync::AsyncLock` |
//! | [`leader_task`] | an `AsyncManager` background job that runs only on the lease holder | `AsyncManager::spawn_task` |
//! | [`cache::TwoLevelCache`] | a cache: L1 in each instance over L2 in Redis, one fetch per key across instances, invalidation of every L1, refresh-ahead by one instance; values through a [`Codec`] | `uno_core::cache::AsyncCache` (its L1) |
//! | [`Redis`] | the client they share: one multiplexed connection, every call under uno's timer, reconnection through uno's `Retry` | — |
//!
//! Redis slow or down is a first-class case: each component's [`FailurePolicy`] either fails
//! closed (a typed error) or fails open (an in-process fallback), and its stats count which.
//!
//! It runs under tokio, smol and async-std: redis-rs picks tokio inside a tokio context and
//! async-io (smol's reactor, which async-std shares) otherwise. uno-core itself still depends on
//! no executor.
//!
//! # Examples
//!
//! Two instances (here: two clients in one process) share one limit; the examples return early
//! when no Redis is reachable.
//!
//! ```
//! # uno_smol::block_on(async {
//! use std::time::Duration;
//! use uno_redis::{Redis, RedisRateLimiter};
//!
//! let rt = uno_smol::runtime();
//! let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
//! let Ok(web_1) = Redis::builder(&rt, &url).build().await else { return };
//! let web_2 = Redis::builder(&rt, &url).build().await.unwrap();
//!
//! let prefix = format!("uno-doc:root:{}", std::process::id());
//! let limit = |redis| RedisRateLimiter::builder(redis, &prefix, 3, Duration::from_secs(60));
//! let (a, b) = (limit(&web_1).build().unwrap(), limit(&web_2).build().unwrap());
//! a.try_acquire(()).await.unwrap();
//! b.try_acquire(()).await.unwrap();
//! a.try_acquire(()).await.unwrap();
//! assert!(b.try_acquire(()).await.is_err()); // three in all, whoever asks
//! # a.reset(()).await.unwrap();
//! # });
//! ```
//!
//! # Features
//!
//! Only `json` is on by default.
//!
//! | feature | enables |
//! |---|---|
//! | `tracing` | `tracing` events (target `uno_redis`): a failed connection attempt (`warn`, fields `name`, `error`), a reconnection (`info`, `name`), a limiter falling back in-process (`warn`, `name`, `error`) and recovering (`info`, `name`), a lease taken (`debug`, `key`, `token`) and lost (`warn`, `key`, `token`); and uno-core's `tracing` feature, for the policies inside (the reconnection `Retry`, the fail-open `RateLimiter`) |
//! | `metrics` | uno-core's `metrics` feature: the same policies' metrics |
//! | `json` | [`JsonCodec`] for the two-level cache (serde + serde_json) |
//! | `postcard` | `PostcardCodec` for the two-level cache: compact binary (serde + postcard) |
//!
//! # Keys
//!
//! Every component writes only under the key (prefix) it is given: a limiter under
//! `<prefix>` and `<prefix>:<key>`, a lease under `<key>` and its fencing counter under
//! `<key>:fence` (never expired, so tokens only grow). Nothing is ever flushed.

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]

pub mod cache;
mod client;
mod codec;
mod error;
mod lease;
mod observe;
mod rate_limit;
mod subscription;

pub use client::{Redis, RedisBuilder, RedisStats};
#[cfg(feature = "json")]
pub use codec::JsonCodec;
#[cfg(feature = "postcard")]
pub use codec::PostcardCodec;
pub use codec::{Codec, CodecError};
pub use error::{ConfigError, FailurePolicy, RedisError};
pub use lease::{LeaderTerm, Lease, LeaseConfig, LeaseConfigBuilder, leader_task};
pub use rate_limit::{
    RateKey, RedisAcquire, RedisRateLimiter, RedisRateLimiterBuilder, RedisRateLimiterStats,
};
