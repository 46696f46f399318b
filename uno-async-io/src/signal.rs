//! SIGINT and SIGTERM through the runtime-neutral `async-signal` crate, and the part of
//! `run_application` that uno-smol and uno-async-std share.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::Poll;

use futures_core::Stream;
use uno_core::Runtime;
use uno_core::lifecycle::{
    ApplicationError, ApplicationReport, Cleanup, DEFAULT_SHUTDOWN_DEADLINE, ShutdownSignal,
    Signal, SignalSource, Startup, run_application_with,
};

/// SIGINT and SIGTERM (SIGINT only off Unix), through `async-signal`: a [`SignalSource`] for
/// [`run_application_with`]. It runs on `async-io`, so it works under any executor, and needs
/// none. Re-exported as `uno_smol::signal::OsSignals` and `uno_async_std::signal::OsSignals`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_async_io::OsSignals; // or uno_smol::signal::OsSignals, uno_async_std::signal::OsSignals
/// use uno_core::lifecycle::{ShutdownReason, run_application_with};
/// use uno_core::rt::VirtualRuntime;
///
/// // On a runtime of your own (here virtual time), with your own deadline:
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let report = vrt.block_on(run_application_with(
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
    /// The I/O error of installing them (`async-signal`'s).
    fn install(&self) -> io::Result<ShutdownSignal> {
        use async_signal::Signal as S;
        #[cfg(unix)]
        let wanted = [S::Int, S::Term];
        #[cfg(not(unix))]
        let wanted = [S::Int];
        let mut signals = async_signal::Signals::new(wanted)?;
        Ok(ShutdownSignal::new(poll_fn(move |cx| {
            loop {
                match Pin::new(&mut signals).poll_next(cx) {
                    Poll::Ready(Some(Ok(S::Int))) => return Poll::Ready(Signal::Interrupt),
                    Poll::Ready(Some(Ok(_))) => return Poll::Ready(Signal::Terminate),
                    // A failed read of the notification pipe: try again rather than stop early.
                    Poll::Ready(Some(Err(_))) => continue,
                    // The stream never ends; if it did, no signal can come any more.
                    Poll::Ready(None) | Poll::Pending => return Poll::Pending,
                }
            }
        })))
    }
}

/// [`run_application_with`] the [`OsSignals`] and [`DEFAULT_SHUTDOWN_DEADLINE`] on `rt`: what
/// `uno_smol::run_application` and `uno_async_std::run_application` block on, each with its own
/// executor's `block_on`.
///
/// # Errors
///
/// As [`run_application_with`]: [`ApplicationError::Setup`] if the handlers cannot be installed,
/// [`ApplicationError::Startup`] if `startup` fails.
///
/// # Examples
///
/// ```
/// use uno_core::lifecycle::ShutdownReason;
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let app = uno_async_io::run_application(
///     &rt,
///     |manager| async move {
///         manager.request_shutdown();
///         Ok::<_, std::io::Error>(())
///     },
///     |_manager| async {},
/// );
/// assert_eq!(vrt.block_on(app).unwrap().reason, ShutdownReason::Requested);
/// ```
///
/// # Cancel safety
///
/// Not cancel safe; see [`uno_core::lifecycle::run_application`].
pub async fn run_application<E>(
    rt: &Runtime,
    startup: impl Startup<E>,
    cleanup: impl Cleanup,
) -> Result<ApplicationReport, ApplicationError<E>> {
    run_application_with(rt, startup, cleanup, OsSignals, DEFAULT_SHUTDOWN_DEADLINE).await
}
