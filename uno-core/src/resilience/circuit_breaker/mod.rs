//! The circuit breaker: stop calling a failing dependency for a while, then probe it.
//!
//! - `policy`: [`CircuitBreaker`], the public handle, and its counters;
//! - `builder`: [`CircuitBreakerBuilder`], the configuration, checked once;
//! - `permit`: the guard of one admitted call, owned ([`BreakerPermit`]) or borrowed;
//! - `state`: the state machine, with its implementation notes;
//! - `window`: the count and time windows the failure rate is computed over.

mod builder;
mod permit;
mod policy;
mod state;
mod window;

pub use builder::CircuitBreakerBuilder;
pub use permit::BreakerPermit;
pub use policy::{CircuitBreaker, CircuitBreakerStats};
pub use state::{CircuitState, StateChange};
pub(crate) use state::{STATE, TRANSITIONS};
