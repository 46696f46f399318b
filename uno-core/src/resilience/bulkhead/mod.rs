//! The bulkhead (Uno's `@concurrent_limited`): a bound on calls in flight, with an optional bound
//! on the queue and on the wait.
//!
//! - `policy`: [`Bulkhead`], the public handle, and its counters;
//! - `builder`: [`BulkheadBuilder`], the configuration, checked once;
//! - `permit`: one slot, owned ([`BulkheadPermit`], waited for by [`BulkheadAcquire`]) or
//!   borrowed, and the bounded queue (with its
//!   implementation notes).

mod builder;
mod permit;
mod policy;

pub use builder::BulkheadBuilder;
pub use permit::{BulkheadAcquire, BulkheadPermit};
pub use policy::{Bulkhead, BulkheadStats};
pub(crate) use policy::{IN_FLIGHT, QUEUED};
