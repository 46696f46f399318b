//! Lifecycle: resources with an async close, named background tasks, graceful shutdown.
//!
//! - [`AsyncManager`]: registers resources ([`AsyncClose`]) and background tasks, and shuts them
//!   down — tasks first, then resources in reverse registration order — within time limits,
//!   returning a [`ShutdownReport`]. [`get_async_manager`] is the process-wide one.
//! - [`run_application`]: startup, wait for a shutdown signal (or a programmatic request), cleanup,
//!   graceful shutdown. [`run_application_with`] installs the SIGINT/SIGTERM handlers of an
//!   adapter's [`SignalSource`] first (`uno_tokio::signal::OsSignals`…); a [`ShutdownSignal`]
//!   completes with the [`Signal`] received.
//! - [`context_group`]: an async exit stack as a scope — what the body entered is closed, last in
//!   first out, before it returns, whether the body succeeded, failed or panicked;
//!   [`AsyncContextGroup`] is the stack itself.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use uno_core::lifecycle::{AsyncManager, on_close};
//! use uno_core::rt::VirtualRuntime;
//!
//! let vrt = VirtualRuntime::new();
//! let rt = vrt.handle();
//! vrt.block_on(async move {
//!     let manager = AsyncManager::new(&rt);
//!     manager.register_resource("db", on_close(|| async { Ok(()) })).unwrap();
//!     manager.register_resource("cache", on_close(|| async { Ok(()) })).unwrap();
//!     let token = manager.shutdown_token();
//!     manager
//!         .spawn_task("poller", async move {
//!             token.cancelled().await;
//!             Ok::<_, std::io::Error>(())
//!         })
//!         .unwrap();
//!     let report = manager.shutdown(Duration::from_secs(5)).await;
//!     assert!(report.is_clean());
//!     assert_eq!(report.tasks.stopped, ["poller"]);
//!     assert_eq!(report.closed, ["cache", "db"]); // reverse registration order
//! });
//! ```

mod application;
mod context_group;
mod error;
mod manager;
mod report;
mod signal;

use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use crate::panic::{self, Contained};
use crate::rt::Runtime;

pub use application::{
    ApplicationReport, Cleanup, ShutdownReason, Startup, run_application, run_application_with,
};
pub use context_group::{AsyncContextGroup, ContextScope, context_group};
pub use error::{
    ApplicationError, BoxError, CloseError, ContextCloseError, ContextGroupError, LifecycleError,
    ResourceError,
};
pub use manager::{AsyncManager, get_async_manager};
pub use report::ShutdownReport;
pub use signal::{ShutdownSignal, Signal, SignalSource};

/// The deadline the adapters' `run_application` gives a graceful shutdown (and cleanup).
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);

/// The time limit of one resource's close unless configured otherwise.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The future an [`AsyncClose`] returns.
pub type CloseFuture<'a> = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'a>>;

/// Something with an async close: a connection pool, a file being flushed, a client session.
///
/// Object safe (the close future is boxed), so managers hold resources of any type.
///
/// # Examples
///
/// ```
/// use uno_core::lifecycle::{AsyncClose, CloseFuture};
///
/// struct Pool;
///
/// impl AsyncClose for Pool {
///     fn close(&self) -> CloseFuture<'_> {
///         Box::pin(async move {
///             // drain connections...
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait AsyncClose: Send + Sync + 'static {
    /// Releases the resource. Called once by the manager or group that owns it.
    ///
    /// # Cancel safety
    ///
    /// Managers drop the future when the close exceeds its time limit; an implementation should
    /// leave the resource in a state that is safe to drop at any await point.
    fn close(&self) -> CloseFuture<'_>;
}

impl<R: AsyncClose + ?Sized> AsyncClose for Arc<R> {
    fn close(&self) -> CloseFuture<'_> {
        (**self).close()
    }
}

/// A resource whose close is a closure; from [`on_close`].
pub struct CloseFn<F> {
    f: F,
}

/// Makes an [`AsyncClose`] of a closure returning the close future: for resources that are not a
/// type of their own, or for callbacks to run at shutdown.
///
/// # Examples
///
/// ```
/// use uno_core::lifecycle::{AsyncClose, on_close};
///
/// let flush = on_close(|| async { Ok(()) });
/// # futures_lite::future::block_on(async { flush.close().await.unwrap() });
/// ```
pub fn on_close<F, Fut>(f: F) -> CloseFn<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    CloseFn { f }
}

impl<F, Fut> AsyncClose for CloseFn<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    fn close(&self) -> CloseFuture<'_> {
        Box::pin((self.f)())
    }
}

impl<F> fmt::Debug for CloseFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloseFn").finish_non_exhaustive()
    }
}

/// A named resource, as managers and groups keep them.
pub(crate) type Named = (String, Arc<dyn AsyncClose>);

/// Runs `future` within `limit` with its panics contained: a panic in a poll, or in the future's
/// `Drop` (when it completes or when the time limit drops it), becomes [`CloseError::Panicked`];
/// a future still running at the limit is dropped and [`CloseError::TimedOut`] returned.
pub(crate) async fn run_bounded<F: Future>(
    rt: &Runtime,
    limit: Duration,
    what: String,
    future: F,
) -> Result<F::Output, CloseError> {
    let mut future = pin!(Contained::new(future));
    let outcome = rt.timeout(limit, what, future.as_mut()).await;
    match outcome {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(message)) => Err(CloseError::Panicked { message }),
        // A panic while dropping the abandoned future is the more specific fault: report it.
        Err(elapsed) => match future.as_mut().cancel() {
            Ok(()) => Err(CloseError::TimedOut(elapsed)),
            Err(message) => Err(CloseError::Panicked { message }),
        },
    }
}

/// Closes one resource within `limit`, whatever its close does: a panic in `close` itself, in a
/// poll of its future or in the future's `Drop` is [`CloseError::Panicked`]; a close still running
/// at the limit is dropped.
pub(crate) async fn close_one(
    rt: &Runtime,
    name: &str,
    resource: &dyn AsyncClose,
    limit: Duration,
) -> Result<(), CloseError> {
    let future =
        panic::call(|| resource.close()).map_err(|message| CloseError::Panicked { message })?;
    run_bounded(rt, limit, format!("closing `{name}`"), future)
        .await?
        .map_err(CloseError::Failed)
}

/// Closes `resources` last-first, every one of them, returning the names closed and the failures.
pub(crate) async fn close_all_lifo(
    rt: &Runtime,
    mut resources: Vec<Named>,
    limit: Duration,
) -> (Vec<String>, Vec<ResourceError>) {
    let mut closed = Vec::new();
    let mut failed = Vec::new();
    while let Some((name, resource)) = resources.pop() {
        match close_one(rt, &name, &*resource, limit).await {
            Ok(()) => closed.push(name),
            Err(error) => failed.push(ResourceError { name, error }),
        }
    }
    (closed, failed)
}

/// The metrics this module reports (see [`crate::observe`]), for `describe_metrics`.
pub(crate) const METRICS: &[crate::observe::Description] = &[];
