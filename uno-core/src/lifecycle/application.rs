use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use crate::lifecycle::{ApplicationError, AsyncManager, CloseError, ShutdownReport, run_bounded};
use crate::panic::{self, Contained};
use crate::rt::Runtime;

/// What ended a [`run_application`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownReason {
    /// The shutdown signal future completed (SIGINT or SIGTERM, through an adapter).
    Signal,
    /// Someone cancelled the manager's shutdown token
    /// ([`AsyncManager::request_shutdown`]).
    Requested,
}

/// What [`run_application`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct ApplicationReport {
    /// What ended the application.
    pub reason: ShutdownReason,
    /// How the cleanup callback went: `Ok`, timed out, or panicked.
    pub cleanup: Result<(), CloseError>,
    /// The manager's shutdown: tasks, then resources.
    pub shutdown: ShutdownReport,
}

impl ApplicationReport {
    /// Whether cleanup succeeded and the shutdown was clean.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::run_application;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let report = vrt.block_on(run_application(
    ///     &rt,
    ///     |_manager| async { Ok::<_, std::io::Error>(()) },
    ///     // A cleanup slower than the deadline:
    ///     |manager| async move { manager.runtime().sleep(Duration::from_secs(60)).await },
    ///     async {}, // the signal fires at once
    ///     Duration::from_secs(1),
    /// ))
    /// .unwrap();
    /// assert!(!report.is_clean());
    /// assert!(report.cleanup.unwrap_err().is_timeout());
    /// ```
    pub fn is_clean(&self) -> bool {
        self.cleanup.is_ok() && self.shutdown.is_clean()
    }
}

impl fmt::Display for ApplicationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "graceful shutdown ({:?})", self.reason)?;
        match &self.cleanup {
            Ok(()) => writeln!(f, "  cleanup: ok")?,
            Err(error) => writeln!(f, "  cleanup: {error}")?,
        }
        write!(f, "{}", self.shutdown)
    }
}

/// Runs an application's lifecycle, runtime-neutrally: `startup`, then wait for `shutdown_signal`
/// or a programmatic shutdown, then `cleanup`, then a graceful shutdown of the [`AsyncManager`].
///
/// 1. `startup(manager)` registers resources and spawns background tasks on a fresh
///    [`AsyncManager`]. If it fails, what it registered is shut down and
///    [`ApplicationError::Startup`] returned. If it panics, what it registered is shut down and
///    the panic is then re-raised (its payload is the message, as a `String`).
/// 2. Waits until `shutdown_signal` completes (adapters pass SIGINT/SIGTERM:
///    `uno_tokio::run_application`, `uno_smol::run_application`, …) or the manager's shutdown
///    token is cancelled ([`AsyncManager::request_shutdown`]).
/// 3. Cancels the shutdown token (tasks start stopping), then runs `cleanup(manager)` within
///    `deadline`. A cleanup that overruns is dropped; one that panics (when called, in a poll or
///    in its `Drop`) is reported in [`ApplicationReport::cleanup`]. The shutdown goes on either
///    way.
/// 4. [`AsyncManager::shutdown`]`(deadline)`: tasks, then resources in reverse order.
///
/// From the signal on, the whole is bounded whatever user code does: at most twice `deadline`
/// (cleanup, then the tasks) plus one close timeout per resource.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::lifecycle::{ShutdownReason, on_close, run_application};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let report = vrt.block_on(run_application(
///     &rt,
///     |manager| async move {
///         manager.register_resource("db", on_close(|| async { Ok(()) })).unwrap();
///         manager.request_shutdown(); // e.g. from an admin endpoint
///         Ok::<_, std::io::Error>(())
///     },
///     |_manager| async {},
///     std::future::pending::<()>(), // no signal in this example
///     Duration::from_secs(5),
/// ))
/// .unwrap();
/// assert_eq!(report.reason, ShutdownReason::Requested);
/// assert_eq!(report.shutdown.closed, ["db"]);
/// ```
///
/// # Cancel safety
///
/// Not cancel safe: dropping the future mid-way skips the remaining steps; dropping the manager
/// then cancels its tasks, but resources are not closed.
pub async fn run_application<St, StFut, Cl, ClFut, Sig, E>(
    rt: &Runtime,
    startup: St,
    cleanup: Cl,
    shutdown_signal: Sig,
    deadline: Duration,
) -> Result<ApplicationReport, ApplicationError<E>>
where
    St: FnOnce(AsyncManager) -> StFut,
    StFut: Future<Output = Result<(), E>>,
    Cl: FnOnce(AsyncManager) -> ClFut,
    ClFut: Future<Output = ()>,
    Sig: Future<Output = ()>,
{
    let manager = AsyncManager::new(rt);
    let started = match panic::call(|| startup(manager.clone())) {
        Ok(future) => Contained::new(future).await,
        Err(message) => Err(message),
    };
    match started {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            let report = Box::new(manager.shutdown(deadline).await);
            return Err(ApplicationError::Startup { error, report });
        }
        Err(message) => {
            manager.shutdown(deadline).await;
            std::panic::resume_unwind(Box::new(message));
        }
    }

    let token = manager.shutdown_token();
    let reason = {
        let mut signal = pin!(shutdown_signal);
        let mut requested = pin!(token.cancelled());
        poll_fn(|cx| {
            if signal.as_mut().poll(cx).is_ready() {
                return Poll::Ready(ShutdownReason::Signal);
            }
            if requested.as_mut().poll(cx).is_ready() {
                return Poll::Ready(ShutdownReason::Requested);
            }
            Poll::Pending
        })
        .await
    };
    manager.request_shutdown();

    let cleanup = match panic::call(|| cleanup(manager.clone())) {
        Ok(future) => run_bounded(rt, deadline, "application cleanup".into(), future).await,
        Err(message) => Err(CloseError::Panicked { message }),
    };
    let shutdown = manager.shutdown(deadline).await;
    Ok(ApplicationReport {
        reason,
        cleanup,
        shutdown,
    })
}
