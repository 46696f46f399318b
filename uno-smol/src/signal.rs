//! Shutdown signals through the runtime-neutral `async-signal` crate, and [`run_application`]
//! with them. uno-async-std reuses this module.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use smol::stream::Stream;
use uno_core::Runtime;
use uno_core::lifecycle::{
    ApplicationError, ApplicationReport, AsyncManager, DEFAULT_SHUTDOWN_DEADLINE,
};

/// The signal that asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (what `kill`, systemd and container runtimes send).
    Terminate,
}

/// Completes with the first SIGINT or SIGTERM received after [`shutdown_signal`] was called.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct ShutdownSignal {
    signals: async_signal::Signals,
}

/// Installs the handlers for SIGINT and SIGTERM (SIGINT only off Unix) **now**, and returns the
/// future that completes when one arrives. A signal received between this call and the first poll
/// is not lost, and does not kill the process. Works under any executor (it runs on `async-io`).
///
/// # Errors
///
/// An error if the handlers cannot be installed.
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
/// Cancel safe: dropping the future removes nothing but this listener.
pub fn shutdown_signal() -> io::Result<ShutdownSignal> {
    use async_signal::Signal as S;
    #[cfg(unix)]
    let wanted = [S::Int, S::Term];
    #[cfg(not(unix))]
    let wanted = [S::Int];
    Ok(ShutdownSignal {
        signals: async_signal::Signals::new(wanted)?,
    })
}

impl Future for ShutdownSignal {
    type Output = Signal;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Signal> {
        loop {
            match Pin::new(&mut self.signals).poll_next(cx) {
                Poll::Ready(Some(Ok(async_signal::Signal::Int))) => {
                    return Poll::Ready(Signal::Interrupt);
                }
                Poll::Ready(Some(Ok(_))) => return Poll::Ready(Signal::Terminate),
                // A failed read of the notification pipe: try again rather than stop early.
                Poll::Ready(Some(Err(_))) => continue,
                // The stream never ends; if it did, no signal can come any more.
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl fmt::Debug for ShutdownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownSignal").finish_non_exhaustive()
    }
}

/// Runs the application's lifecycle on smol: `startup`, then wait for SIGINT/SIGTERM or a
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
    smol::block_on(run_application_on(
        &rt,
        startup,
        cleanup,
        DEFAULT_SHUTDOWN_DEADLINE,
    ))
}

/// As [`run_application`], on a runtime of your choice (any executor), with your own deadline.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::lifecycle::ShutdownReason;
///
/// let rt = uno_smol::runtime();
/// let report = smol::block_on(uno_smol::signal::run_application_on(
///     &rt,
///     |manager| async move {
///         manager.request_shutdown(); // as SIGTERM would
///         Ok::<_, std::io::Error>(())
///     },
///     |_manager| async {},
///     Duration::from_secs(5),
/// ))
/// .unwrap();
/// assert_eq!(report.reason, ShutdownReason::Requested);
/// ```
///
/// # Errors
///
/// As [`run_application`].
///
/// # Cancel safety
///
/// Not cancel safe; see [`uno_core::lifecycle::run_application`].
pub async fn run_application_on<St, StFut, Cl, ClFut, E>(
    rt: &Runtime,
    startup: St,
    cleanup: Cl,
    deadline: Duration,
) -> Result<ApplicationReport, ApplicationError<E>>
where
    St: FnOnce(AsyncManager) -> StFut,
    StFut: Future<Output = Result<(), E>>,
    Cl: FnOnce(AsyncManager) -> ClFut,
    ClFut: Future<Output = ()>,
{
    // Installed before startup runs, so a signal during startup is not lost.
    let signal = shutdown_signal().map_err(ApplicationError::Setup)?;
    uno_core::lifecycle::run_application(
        rt,
        startup,
        cleanup,
        async move {
            signal.await;
        },
        deadline,
    )
    .await
}
