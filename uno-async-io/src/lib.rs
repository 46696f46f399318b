//! Internal to uno: what `uno-smol` and `uno-async-std` share because both executors run on
//! `async-io` — its timers ([`AsyncIoTimer`]), `async-signal`'s shutdown signals ([`OsSignals`])
//! and the [`run_application`] both block on. None of it needs an executor, so neither adapter
//! pulls in the other's.
//!
//! Use these items through `uno-smol` or `uno-async-std`, which re-export them
//! (`uno_smol::AsyncIoTimer`, `uno_smol::signal::OsSignals`, and the same in `uno_async_std`);
//! this crate makes no promise of its own beyond theirs.
//!
//! # Features
//!
//! | feature | enables | costs |
//! |---|---|---|
//! | (none) | this crate has no features: uno-smol's and uno-async-std's `tracing` and `metrics` switch on uno-core's | — |
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use uno_async_io::AsyncIoTimer;
//! use uno_core::time::Timer;
//!
//! let timer = AsyncIoTimer;
//! let start = timer.now();
//! async_io::block_on(timer.sleep(Duration::from_millis(2)));
//! assert!(timer.now() - start >= Duration::from_millis(2));
//! ```

mod signal;
mod timer;

pub use signal::{OsSignals, run_application};
pub use timer::AsyncIoTimer;
