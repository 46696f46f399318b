//! Shutdown signals (shared with uno-smol: both run on `async-io`), and [`run_application`] on
//! async-std.

use std::future::Future;

use uno_core::lifecycle::{
    ApplicationError, ApplicationReport, AsyncManager, DEFAULT_SHUTDOWN_DEADLINE,
};
pub use uno_smol::signal::{ShutdownSignal, Signal, run_application_on, shutdown_signal};

/// Runs the application's lifecycle on async-std: `startup`, then wait for SIGINT/SIGTERM or a
/// programmatic shutdown ([`AsyncManager::request_shutdown`]), then `cleanup`, then a graceful
/// shutdown within [`DEFAULT_SHUTDOWN_DEADLINE`]. See [`uno_core::lifecycle::run_application`].
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
/// let report = uno_async_std::run_application(
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
pub fn run_application<St, StFut, Cl, ClFut, E>(
    startup: St,
    cleanup: Cl,
) -> Result<ApplicationReport, ApplicationError<E>>
where
    St: FnOnce(AsyncManager) -> StFut,
    StFut: Future<Output = Result<(), E>>,
    Cl: FnOnce(AsyncManager) -> ClFut,
    ClFut: Future<Output = ()>,
{
    let rt = crate::runtime();
    async_std::task::block_on(run_application_on(
        &rt,
        startup,
        cleanup,
        DEFAULT_SHUTDOWN_DEADLINE,
    ))
}
