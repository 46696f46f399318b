//! Shutdown signals on tokio, and [`run_application`] with them.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

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
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(not(unix))]
    ctrl_c: Pin<Box<dyn Future<Output = io::Result<()>> + Send>>,
}

/// Installs the handlers for SIGINT and SIGTERM (Ctrl-C only off Unix) **now**, and returns the
/// future that completes when one arrives. A signal received between this call and the first poll
/// is not lost, and does not kill the process.
///
/// # Errors
///
/// An error if called outside a tokio runtime, or if the handlers cannot be installed.
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
/// ```
///
/// # Cancel safety
///
/// Cancel safe: dropping the future removes nothing but this listener.
pub fn shutdown_signal() -> io::Result<ShutdownSignal> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other(
            "uno_tokio::signal::shutdown_signal must be called inside a tokio runtime",
        ));
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(ShutdownSignal {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }
    #[cfg(not(unix))]
    {
        Ok(ShutdownSignal {
            ctrl_c: Box::pin(tokio::signal::ctrl_c()),
        })
    }
}

impl Future for ShutdownSignal {
    type Output = Signal;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Signal> {
        #[cfg(unix)]
        {
            if self.interrupt.poll_recv(cx).is_ready() {
                return Poll::Ready(Signal::Interrupt);
            }
            if self.terminate.poll_recv(cx).is_ready() {
                return Poll::Ready(Signal::Terminate);
            }
            Poll::Pending
        }
        #[cfg(not(unix))]
        {
            self.ctrl_c.as_mut().poll(cx).map(|_| Signal::Interrupt)
        }
    }
}

impl fmt::Debug for ShutdownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownSignal").finish_non_exhaustive()
    }
}

/// Builds a multi-thread tokio runtime and runs the application's lifecycle on it: `startup`,
/// then wait for SIGINT/SIGTERM or a programmatic shutdown
/// ([`AsyncManager::request_shutdown`]), then `cleanup`, then a graceful shutdown within
/// [`DEFAULT_SHUTDOWN_DEADLINE`]. See [`uno_core::lifecycle::run_application`].
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
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ApplicationError::Setup)?;
    let rt = crate::runtime_from(tokio.handle().clone())
        .map_err(|e| ApplicationError::Setup(std::io::Error::other(e)))?;
    tokio.block_on(run_application_on(
        &rt,
        startup,
        cleanup,
        DEFAULT_SHUTDOWN_DEADLINE,
    ))
}

/// As [`run_application`], inside a tokio runtime you already run, with your own deadline.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::lifecycle::ShutdownReason;
///
/// let tokio = tokio::runtime::Runtime::new().unwrap();
/// let rt = uno_tokio::runtime_from(tokio.handle().clone()).unwrap();
/// let report = tokio.block_on(uno_tokio::signal::run_application_on(
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
