//! Shared state for many instances of a uno service, on Redis.
//!
//! uno's policies keep their state in one process: eight replicas behind a load balancer get
//! eight times the rate limit they asked for, and nothing runs "on one instance only". This crate
//! keeps that state in Redis, behind the same shapes as the in-process policies:
//!
//! - [`Redis`]: the client every component shares: one multiplexed connection, a timeout on
//!   every call through uno's timer, reconnection with backoff through uno's `Retry`;
//! - [`FailurePolicy`]: what each component does when Redis is slow or down — fail closed (a
//!   typed error) or fail open (an in-process fallback), counted in its stats.
//!
//! It runs under tokio, smol and async-std: redis-rs picks tokio inside a tokio context and
//! async-io (smol's reactor, which async-std shares) otherwise.
//!
//! # Examples
//!
//! ```
//! # uno_smol::block_on(async {
//! use uno_redis::Redis;
//!
//! let rt = uno_smol::runtime();
//! let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
//! let Ok(redis) = Redis::builder(&rt, &url).name("checkout").build().await else {
//!     return; // no Redis reachable here
//! };
//! assert!(redis.is_connected());
//! # });
//! ```
//!
//! # Features
//!
//! | feature | enables |
//! |---|---|
//! | `tracing` | uno-core's `tracing` feature |
//! | `metrics` | uno-core's `metrics` feature |

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]

mod client;
mod error;
mod lease;
mod rate_limit;
mod subscription;

pub use client::{Redis, RedisBuilder, RedisStats};
pub use error::{ConfigError, FailurePolicy, RedisError};
pub use lease::{LeaderTerm, Lease, LeaseConfig, LeaseConfigBuilder, leader_task};
pub use rate_limit::{
    RateKey, RedisAcquire, RedisRateLimiter, RedisRateLimiterBuilder, RedisRateLimiterStats,
};
