//! Retry: run an operation again after a transient failure, with backoff, a budget and a hook.
//!
//! - `policy`: [`Retry`], the public handle, its counters and [`RetryAttempts`];
//! - `builder`: [`RetryBuilder`], the configuration, checked once;
//! - `state`: one call's state machine (with its implementation notes);
//! - `backoff`: the [`Backoff`] schedules and their jitter;
//! - `budget`: the [`RetryBudget`].

mod backoff;
mod budget;
mod builder;
mod policy;
mod state;

pub use backoff::{Backoff, BackoffDelays};
pub use budget::RetryBudget;
pub use builder::RetryBuilder;
pub use policy::{Retry, RetryAttempts, RetryStats};
pub(crate) use state::{ATTEMPTS, Attempts, BUDGET_EXHAUSTED, RETRIES, Step};
#[cfg(feature = "tower")]
pub(crate) use state::OwnedAttempts;
