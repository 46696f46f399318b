//! Shutdown signals through the runtime-neutral `async-signal` crate, and [`run_application`]
//! with them.
//!
//! [`Signal`] and [`ShutdownSignal`] are uno-core's, the same types on every adapter; the
//! handlers ([`OsSignals`]) run on `async-io`, so they work under any executor (uno-async-std
//! has the same).

use std::io;

pub use uno_async_io::OsSignals;
use uno_core::lifecycle::{ApplicationError, ApplicationReport, Cleanup, SignalSource, Startup};
pub use uno_core::lifecycle::{ShutdownSignal, Signal};

/// Runs the application's lifecycle on smol: `startup`, then wait for SIGINT/SIGTERM or a
/// programmatic shutdown ([`AsyncManager::request_shutdown`]), then `cleanup`, then a graceful
/// shutdown within [`DEFAULT_SHUTDOWN_DEADLINE`]. See [`uno_core::lifecycle::run_application`];
/// to run on an executor you already drive, or with another deadline, use
/// [`run_application_with`] with [`OsSignals`].
///
/// # Errors
///
/// [`ApplicationError::Setup`] if the signal handlers cannot be installed;
/// [`ApplicationError::Startup`] if `startup` fails.
///
/// # Examples
///
/// ```
/// use uno_core::lifecycle::{ShutdownReason, on_close};
///
/// let report = uno_smol::run_application(
///     |manager| async move {
///         manager.register_resource("db", on_close(|| async { Ok(()) })).unwrap();
///         manager.request_shutdown(); // or wait for Ctrl-C / SIGTERM
///         Ok::<_, std::io::Error>(())
///     },
///     |_manager| async {},
/// )
/// .unwrap();
/// assert_eq!(report.reason, ShutdownReason::Requested);
/// ```
///
/// [`AsyncManager::request_shutdown`]: uno_core::lifecycle::AsyncManager::request_shutdown
/// [`DEFAULT_SHUTDOWN_DEADLINE`]: uno_core::lifecycle::DEFAULT_SHUTDOWN_DEADLINE
/// [`run_application_with`]: uno_core::lifecycle::run_application_with
pub fn run_application<E>(
    startup: impl Startup<E>,
    cleanup: impl Cleanup,
) -> Result<ApplicationReport, ApplicationError<E>> {
    smol::block_on(uno_async_io::run_application(
        &crate::runtime(),
        startup,
        cleanup,
    ))
}

/// Installs the handlers for SIGINT and SIGTERM (SIGINT only off Unix) **now**, and returns the
/// future that completes when one arrives: [`OsSignals`]`.install()`. A signal received between
/// this call and the first poll is not lost, and does not kill the process. Works under any
/// executor (it runs on `async-io`).
///
/// # Errors
///
/// The I/O error of installing the handlers.
///
/// # Examples
///
/// ```
/// let signal = uno_smol::signal::shutdown_signal().unwrap();
/// # drop(signal);
/// // ... serve, then: signal.await;
/// ```
///
/// # Cancel safety
///
/// The [`ShutdownSignal`] is cancel safe: dropping it removes nothing but this listener.
pub fn shutdown_signal() -> io::Result<ShutdownSignal> {
    OsSignals.install()
}
