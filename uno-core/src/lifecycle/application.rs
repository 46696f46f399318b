use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use crate::lifecycle::close::run_bounded;
use crate::lifecycle::{
    ApplicationError, AsyncManager, CloseError, ShutdownReport, Signal, SignalSource,
};
use crate::observe::event;
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
    /// The signal received, when [`run_application_with`]'s source said which; `None` for a
    /// programmatic shutdown and for [`run_application`]'s plain signal future.
    pub signal: Option<Signal>,
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
        match (self.reason, self.signal) {
            (ShutdownReason::Signal, Some(signal)) => {
                writeln!(f, "graceful shutdown on {signal}")?;
            }
            (ShutdownReason::Signal, None) => writeln!(f, "graceful shutdown on a signal")?,
            _ => writeln!(f, "graceful shutdown on request")?,
        }
        match &self.cleanup {
            Ok(()) => writeln!(f, "  cleanup: ok")?,
            Err(error) => writeln!(f, "  cleanup: {}", super::error::Chain(error))?,
        }
        write!(f, "{}", self.shutdown)
    }
}

/// An application's startup, for [`run_application`] and the adapters' `run_application`: a
/// closure or `async fn` that takes the [`AsyncManager`] and returns a future of `Result<(), E>`.
///
/// Implemented for every such closure; there is nothing to implement by hand. It names the
/// closure's future, so that every `run_application` has the same short signature.
///
/// # Examples
///
/// ```
/// use uno_core::lifecycle::{AsyncManager, LifecycleError, Startup, on_close};
///
/// async fn startup(manager: AsyncManager) -> Result<(), LifecycleError> {
///     manager.register_resource("db", on_close(|| async { Ok(()) }))?;
///     Ok(())
/// }
///
/// fn takes_a_startup<E>(_: impl Startup<E>) {}
/// takes_a_startup(startup);
/// takes_a_startup(|manager| async move {
///     manager.request_shutdown();
///     Ok::<_, std::io::Error>(())
/// });
/// ```
pub trait Startup<E>: FnOnce(AsyncManager) -> <Self as Startup<E>>::Future {
    /// The future the startup returns.
    type Future: Future<Output = Result<(), E>>;
}

impl<F, Fut, E> Startup<E> for F
where
    F: FnOnce(AsyncManager) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    type Future = Fut;
}

/// An application's cleanup, for [`run_application`] and the adapters' `run_application`: a
/// closure or `async fn` that takes the [`AsyncManager`] and returns a future of `()`.
///
/// Implemented for every such closure; there is nothing to implement by hand.
///
/// # Examples
///
/// ```
/// use uno_core::lifecycle::{AsyncManager, Cleanup};
///
/// async fn cleanup(_manager: AsyncManager) {
///     // flush, say goodbye...
/// }
///
/// fn takes_a_cleanup(_: impl Cleanup) {}
/// takes_a_cleanup(cleanup);
/// takes_a_cleanup(|_manager| async {});
/// ```
pub trait Cleanup: FnOnce(AsyncManager) -> <Self as Cleanup>::Future {
    /// The future the cleanup returns.
    type Future: Future<Output = ()>;
}

impl<F, Fut> Cleanup for F
where
    F: FnOnce(AsyncManager) -> Fut,
    Fut: Future<Output = ()>,
{
    type Future = Fut;
}

/// Runs an application's lifecycle, runtime-neutrally: `startup`, then wait for `shutdown_signal`
/// or a programmatic shutdown, then `cleanup`, then a graceful shutdown of the [`AsyncManager`].
///
/// `startup` and `cleanup` are closures returning a future (`|manager| async move { .. }`) or
/// `async fn`s taking the manager ([`Startup`], [`Cleanup`]). [`run_application_with`] installs
/// an adapter's [`SignalSource`] instead of taking a `shutdown_signal` future.
///
/// 1. `startup(manager)` registers resources and spawns background tasks on a fresh
///    [`AsyncManager`]. If it fails, what it registered is shut down and
///    [`ApplicationError::Startup`] returned. If it panics, what it registered is shut down and
///    the panic is then re-raised (its payload is the message, as a `String`).
/// 2. Waits until `shutdown_signal` completes (SIGINT/SIGTERM through an adapter:
///    [`run_application_with`], `uno_tokio::run_application`, `uno_smol::run_application`, …) or
///    the manager's shutdown token is cancelled ([`AsyncManager::request_shutdown`]).
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
pub async fn run_application<E>(
    rt: &Runtime,
    startup: impl Startup<E>,
    cleanup: impl Cleanup,
    shutdown_signal: impl Future<Output = ()>,
    deadline: Duration,
) -> Result<ApplicationReport, ApplicationError<E>> {
    let signal = async move {
        shutdown_signal.await;
        None
    };
    run(rt, startup, cleanup, signal, deadline).await
}

/// [`run_application`] with a signal future that may say which signal it was.
async fn run<E>(
    rt: &Runtime,
    startup: impl Startup<E>,
    cleanup: impl Cleanup,
    shutdown_signal: impl Future<Output = Option<Signal>>,
    deadline: Duration,
) -> Result<ApplicationReport, ApplicationError<E>> {
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
    let (reason, signal) = {
        let mut signal = pin!(shutdown_signal);
        let mut requested = pin!(token.cancelled());
        poll_fn(|cx| {
            if let Poll::Ready(signal) = signal.as_mut().poll(cx) {
                return Poll::Ready((ShutdownReason::Signal, signal));
            }
            if requested.as_mut().poll(cx).is_ready() {
                return Poll::Ready((ShutdownReason::Requested, None));
            }
            Poll::Pending
        })
        .await
    };
    if reason == ShutdownReason::Signal {
        event!(
            info,
            "uno_core::lifecycle",
            name = %manager.name(),
            signal = signal.as_ref().map_or("unknown", Signal::as_str),
            "shutdown signal received"
        );
    }
    manager.request_shutdown();

    let cleanup = match panic::call(|| cleanup(manager.clone())) {
        Ok(future) => run_bounded(rt, deadline, "application cleanup", future).await,
        Err(message) => Err(CloseError::Panicked { message }),
    };
    if let Err(error) = &cleanup {
        event!(
            warn,
            "uno_core::lifecycle",
            name = %manager.name(),
            error = %super::error::Chain(error),
            "application cleanup failed"
        );
        #[cfg(not(feature = "tracing"))]
        let _ = error;
    }
    let shutdown = manager.shutdown(deadline).await;
    Ok(ApplicationReport {
        reason,
        signal,
        cleanup,
        shutdown,
    })
}

/// As [`run_application`], with the shutdown signals of `signals` (an adapter's SIGINT/SIGTERM
/// handlers, such as `uno_tokio::signal::OsSignals`), installed **before** `startup` runs: a signal
/// during startup is not lost, and from then on SIGINT and SIGTERM no longer kill the process but
/// start the graceful shutdown.
///
/// The adapters' `run_application(startup, cleanup)` is this on their executor, with
/// [`DEFAULT_SHUTDOWN_DEADLINE`](super::DEFAULT_SHUTDOWN_DEADLINE); call this one to run inside an
/// executor you already run, or with your own deadline.
///
/// # Errors
///
/// [`ApplicationError::Setup`] with the error of [`SignalSource::install`] (`startup` is not
/// called then); [`ApplicationError::Startup`] if `startup` fails.
///
/// # Examples
///
/// ```
/// use std::io;
/// use std::time::Duration;
/// use uno_core::lifecycle::{
///     ShutdownReason, ShutdownSignal, Signal, SignalSource, on_close, run_application_with,
/// };
/// use uno_core::rt::VirtualRuntime;
///
/// /// Stands in for an adapter's `OsSignals`: SIGTERM an hour after the handlers are installed.
/// struct TerminateIn(uno_core::Runtime);
///
/// impl SignalSource for TerminateIn {
///     fn install(&self) -> io::Result<ShutdownSignal> {
///         let sleep = self.0.sleep(Duration::from_secs(3600));
///         Ok(ShutdownSignal::new(async move {
///             sleep.await;
///             Signal::Terminate
///         }))
///     }
/// }
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let report = vrt.block_on(run_application_with(
///     &rt,
///     |manager| async move {
///         manager.register_resource("db", on_close(|| async { Ok(()) }))?;
///         Ok::<_, uno_core::lifecycle::LifecycleError>(())
///     },
///     |_manager| async {},
///     TerminateIn(rt.clone()),
///     Duration::from_secs(5),
/// ))
/// .unwrap();
/// assert_eq!(report.reason, ShutdownReason::Signal);
/// assert_eq!(report.shutdown.closed, ["db"]);
/// ```
///
/// # Cancel safety
///
/// Not cancel safe, as [`run_application`]; dropping the future also removes the signal handlers'
/// listener (the signals then kill the process again, unless another listener is installed).
pub async fn run_application_with<E>(
    rt: &Runtime,
    startup: impl Startup<E>,
    cleanup: impl Cleanup,
    signals: impl SignalSource,
    deadline: Duration,
) -> Result<ApplicationReport, ApplicationError<E>> {
    let signal = signals.install().map_err(ApplicationError::Setup)?;
    let signal = async move { Some(signal.await) };
    run(rt, startup, cleanup, signal, deadline).await
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::lifecycle::{ShutdownSignal, Signal, on_close};
    use crate::rt::VirtualRuntime;

    /// A source that records its installation and fires its signal at once (`None`: never), or
    /// fails to install.
    struct Recording {
        installed: Arc<AtomicBool>,
        outcome: Result<Option<Signal>, io::ErrorKind>,
    }

    impl SignalSource for Recording {
        fn install(&self) -> io::Result<ShutdownSignal> {
            let signal = self.outcome.map_err(io::Error::from)?;
            self.installed.store(true, Ordering::SeqCst);
            Ok(ShutdownSignal::new(async move {
                match signal {
                    Some(signal) => signal,
                    None => std::future::pending().await,
                }
            }))
        }
    }

    fn source(outcome: Result<Option<Signal>, io::ErrorKind>) -> (Recording, Arc<AtomicBool>) {
        let installed = Arc::new(AtomicBool::new(false));
        let source = Recording {
            installed: installed.clone(),
            outcome,
        };
        (source, installed)
    }

    #[test]
    fn installs_the_handlers_before_startup_and_stops_on_the_signal() {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let (signals, installed) = source(Ok(Some(Signal::Interrupt)));
        let report = vrt
            .block_on(run_application_with(
                &rt,
                |manager| async move {
                    assert!(
                        installed.load(Ordering::SeqCst),
                        "startup ran before install"
                    );
                    manager.register_resource("db", on_close(|| async { Ok(()) }))?;
                    Ok::<_, crate::lifecycle::LifecycleError>(())
                },
                |_manager| async {},
                signals,
                Duration::from_secs(5),
            ))
            .unwrap();
        assert_eq!(report.reason, ShutdownReason::Signal);
        assert_eq!(report.signal, Some(Signal::Interrupt));
        assert!(
            report
                .to_string()
                .starts_with("graceful shutdown on SIGINT")
        );
        assert!(report.is_clean());
        assert_eq!(report.shutdown.closed, ["db"]);
    }

    #[test]
    fn a_failed_install_is_a_setup_error_and_startup_never_runs() {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let (signals, installed) = source(Err(io::ErrorKind::PermissionDenied));
        let started = AtomicBool::new(false);
        let outcome = vrt.block_on(run_application_with(
            &rt,
            |_manager| async {
                started.store(true, Ordering::SeqCst);
                Ok::<_, io::Error>(())
            },
            |_manager| async {},
            signals,
            Duration::from_secs(5),
        ));
        match outcome {
            Err(ApplicationError::Setup(error)) => {
                assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
            }
            other => panic!("expected a setup error, got {other:?}"),
        }
        assert!(!installed.load(Ordering::SeqCst));
        assert!(!started.load(Ordering::SeqCst));
    }

    #[test]
    fn a_programmatic_shutdown_wins_over_a_silent_source() {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let (signals, installed) = source(Ok(None));
        let report = vrt
            .block_on(run_application_with(
                &rt,
                |manager| async move {
                    manager.request_shutdown();
                    Ok::<_, io::Error>(())
                },
                |_manager| async {},
                signals,
                Duration::from_secs(5),
            ))
            .unwrap();
        assert!(installed.load(Ordering::SeqCst));
        assert_eq!(report.reason, ShutdownReason::Requested);
        assert!(report.is_clean());
    }
}
