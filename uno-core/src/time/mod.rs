//! Time: the [`Timer`] half of the seam, [`timeout`]s, and the [`VirtualClock`].
//!
//! Everything in uno that depends on time reads it through a [`Timer`] — never `Instant::now()` or
//! `std::thread::sleep` — so the same code runs on real time and on virtual time.
//!
//! - `timer`: the [`Timer`] and [`Sleep`] traits, and [`deadline_after`];
//! - `timeout`: [`timeout`], [`timeout_at`] and their future [`Timeout`];
//! - `expiring`: the state machine every timeout runs, owned or borrowed (with its
//!   implementation notes);
//! - `error`: [`Elapsed`];
//! - `virtual_clock`: [`VirtualClock`], time that moves only when told to.

mod error;
mod expiring;
mod monotonic;
mod timeout;
mod timer;
mod virtual_clock;

pub use error::Elapsed;
#[cfg(feature = "tower")]
pub(crate) use expiring::Deadline;
pub(crate) use expiring::{Expiring, Limit};
pub use monotonic::MonotonicClock;
pub use timeout::{Timeout, timeout, timeout_at};
pub use timer::{FAR_FUTURE, Sleep, Timer, deadline_after};
pub use virtual_clock::VirtualClock;
