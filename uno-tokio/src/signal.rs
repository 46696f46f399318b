//! Shutdown signals through `tokio::signal`, and [`run_application`] with them.
//!
//! [`Signal`] and [`ShutdownSignal`] are uno-core's, the same types on every adapter; this module
//! adds the handlers ([`OsSignals`]), which need a tokio runtime.

use std::io;

use uno_core::lifecycle::{
    ApplicationError, ApplicationReport, Cleanup, DEFAULT_SHUTDOWN_DEADLINE, SignalSource, Startup,
    run_application_with,
};
pub use uno_core::lifecycle::{ShutdownSignal, Signal};

use crate::RuntimeError;

/// SIGINT and SIGTERM (Ctrl-C only off Unix), through `tokio::signal`: a [`SignalSource`] for
/// [`run_application_with`]. Install it inside a tokio runtime with its I/O driver.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::lifecycle::{ShutdownReason, run_application_with};
/// use uno_tokio::signal::OsSignals;
///
/// // Inside a tokio runtime you already run, with your own deadline:
/// let tokio = tokio::runtime::Runtime::new().unwrap();
/// let rt = uno_tokio::runtime_from(tokio.handle().clone()).unwrap();
/// let report = tokio.block_on(run_application_with(
///     &rt,
///     |manager| async move {
///         manager.request_shutdown(); // as SIGTERM would
///         Ok::<_, std::io::Error>(())
///     },
///     |_manager| async {},
///     OsSignals,
///     Duration::from_secs(5),
/// ))
/// .unwrap();
/// assert_eq!(report.reason, ShutdownReason::Requested);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OsSignals;

impl SignalSource for OsSignals {
    /// Installs the handlers now.
    ///
    /// # Errors
    ///
    /// An `io::Error` carrying [`RuntimeError::NoRuntime`] outside a tokio runtime, or
    /// [`RuntimeError::IoDisabled`] in one built without its I/O driver (tokio would panic);
    /// tokio's I/O error if the handlers cannot be installed.
    fn install(&self) -> io::Result<ShutdownSignal> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(RuntimeError::NoRuntime));
        }
        #[cfg(unix)]
        {
            use std::future::poll_fn;
            use std::task::Poll;
            use tokio::signal::unix::{SignalKind, signal};

            // tokio panics without its I/O driver, before it registers anything: a typed error.
            let listen = |kind| {
                std::panic::catch_unwind(|| signal(kind))
                    .unwrap_or_else(|_| Err(io::Error::other(RuntimeError::IoDisabled)))
            };
            let mut interrupt = listen(SignalKind::interrupt())?;
            let mut terminate = listen(SignalKind::terminate())?;
            Ok(ShutdownSignal::new(poll_fn(move |cx| {
                if interrupt.poll_recv(cx).is_ready() {
                    return Poll::Ready(Signal::Interrupt);
                }
                if terminate.poll_recv(cx).is_ready() {
                    return Poll::Ready(Signal::Terminate);
                }
                Poll::Pending
            })))
        }
        #[cfg(not(unix))]
        {
            let ctrl_c = tokio::signal::ctrl_c();
            Ok(ShutdownSignal::new(async move {
                let _ = ctrl_c.await;
                Signal::Interrupt
            }))
        }
    }
}

/// Installs the handlers for SIGINT and SIGTERM (Ctrl-C only off Unix) **now**, and returns the
/// future that completes when one arrives: [`OsSignals`]`.install()`. A signal received between
/// this call and the first poll is not lost, and does not kill the process.
///
/// # Errors
///
/// An `io::Error` carrying [`RuntimeError::NoRuntime`] outside a tokio runtime, or
/// [`RuntimeError::IoDisabled`] in one without its I/O driver; tokio's I/O error if the handlers
/// cannot be installed.
///
/// # Examples
///
/// ```
/// uno_tokio::run(|_rt| async {
///     let signal = uno_tokio::signal::shutdown_signal().unwrap();
///     # drop(signal);
///     // ... serve, then: signal.await;
/// })
/// .unwrap();
///
/// // Outside a tokio runtime, a typed error inside the `io::Error`:
/// let error = uno_tokio::signal::shutdown_signal().unwrap_err();
/// assert!(matches!(
///     error.get_ref().and_then(|e| e.downcast_ref()),
///     Some(uno_tokio::RuntimeError::NoRuntime)
/// ));
/// ```
///
/// # Cancel safety
///
/// The [`ShutdownSignal`] is cancel safe: dropping it removes nothing but this listener.
pub fn shutdown_signal() -> io::Result<ShutdownSignal> {
    OsSignals.install()
}

/// Builds a multi-thread tokio runtime and runs the application's lifecycle on it: `startup`,
/// then wait for SIGINT/SIGTERM or a programmatic shutdown
/// ([`AsyncManager::request_shutdown`]), then `cleanup`, then a graceful shutdown within
/// [`DEFAULT_SHUTDOWN_DEADLINE`]. See [`uno_core::lifecycle::run_application`]; to run inside a
/// tokio runtime you already run, or with another deadline, use [`run_application_with`] with
/// [`OsSignals`].
///
/// # Errors
///
/// [`ApplicationError::Setup`] if the runtime or the signal handlers cannot be set up;
/// [`ApplicationError::Startup`] if `startup` fails.
///
/// # Examples
///
/// ```
/// use uno_core::lifecycle::{ShutdownReason, on_close};
///
/// let report = uno_tokio::run_application(
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
pub fn run_application<E>(
    startup: impl Startup<E>,
    cleanup: impl Cleanup,
) -> Result<ApplicationReport, ApplicationError<E>> {
    let tokio = crate::multi_thread().map_err(ApplicationError::Setup)?;
    let rt = crate::runtime_from(tokio.handle().clone())
        .map_err(|e| ApplicationError::Setup(io::Error::other(e)))?;
    let app = run_application_with(&rt, startup, cleanup, OsSignals, DEFAULT_SHUTDOWN_DEADLINE);
    tokio.block_on(app)
}
