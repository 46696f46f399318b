//! Leases with fencing tokens, and leader-only background jobs.
//!
//! - `config`: [`LeaseConfig`] and its builder, checked once;
//! - `lease`: [`Lease`], one holding, its background renewal and its release;
//! - `scripts`: the acquire, renew and release scripts (compare-and-set on the holder's value);
//! - `leader`: [`leader_task`], an `AsyncManager` job that runs only while its instance leads.

mod config;
mod leader;
#[allow(clippy::module_inception)] // the module of the lease, beside its config and leader
mod lease;
mod scripts;

pub use config::{LeaseConfig, LeaseConfigBuilder};
pub use leader::{LeaderTerm, leader_task};
pub use lease::Lease;
