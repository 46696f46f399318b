//! The rate limiter (Uno's `@rate_limited`): GCRA, with a FIFO queue of waiters.
//!
//! - `policy`: [`RateLimiter`], the public handle, and its counters;
//! - `builder`: [`RateLimiterBuilder`], the configuration, checked once;
//! - `acquire`: [`RateLimitAcquire`] and [`RateLimitAcquireOwned`], the queue of waiters (with its implementation notes);
//! - `keyed`: [`KeyedRateLimiter`], a limit per key in bounded memory (with its notes);
//! - `gcra`: the GCRA maths alone, exact over every clock reading, with its own tests, and the
//!   limiter's clock;
//! - `striped`: the admissions counter, striped so that threads admitting at once do not contend.

mod acquire;
mod builder;
mod gcra;
mod keyed;
mod policy;
mod striped;

pub use acquire::{RateLimitAcquire, RateLimitAcquireOwned};
pub use builder::RateLimiterBuilder;
pub use keyed::{KeyedAcquire, KeyedRateLimiter, KeyedRateLimiterBuilder, KeyedRateLimiterStats};
pub(crate) use policy::{ADMISSIONS, WAITS};
pub use policy::{RateLimiter, RateLimiterStats};
