//! The distributed rate limiter: uno's GCRA, kept in Redis and shared by every process.
//!
//! - `limiter`: [`RedisRateLimiter`], the public handle, its admissions, fallback and counters;
//! - `builder`: [`RedisRateLimiterBuilder`], the configuration, checked once;
//! - `gcra`: the server-side script and the exact interval and tolerance it is given;
//! - `key`: [`RateKey`], what a limit can be keyed by;
//! - `queue`: the per-key queue of this process's waiters (FIFO-ish waiting).

mod builder;
mod gcra;
mod key;
mod limiter;
mod queue;

pub use builder::RedisRateLimiterBuilder;
pub use key::RateKey;
pub use limiter::{RedisAcquire, RedisRateLimiter, RedisRateLimiterStats};
