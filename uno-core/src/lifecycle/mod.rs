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
//!
//! # Names
//!
//! A manager and a context group have a name, given to their builders
//! ([`AsyncManager::builder`]`(&rt).name("api")`, [`AsyncContextGroup::builder`]) and read with
//! `name()`; the defaults are `"async_manager"` and `"context_group"`. It appears in
//! [`LifecycleError`], [`ContextCloseError`], the [`ShutdownReport`]'s `Display`, the `name` label
//! of the metrics and the `name` field of the events below. The process-wide manager of
//! [`get_async_manager`] and the one [`run_application`] makes keep the default.
//!
//! # Metrics
//!
//! With the `metrics` feature (see [`crate::observe`]); every metric carries the `name` label of
//! its manager or group, whose handles are registered when it is built.
//!
//! | metric | kind | labels | meaning |
//! |---|---|---|---|
//! | `uno_lifecycle_resources` | gauge | `name` | resources registered (manager) or entered (group) and not yet taken for closing |
//! | `uno_lifecycle_closes_total` | counter | `name`, `outcome` = `ok` \| `error` \| `timeout` | resource closes; a close that returned an error or panicked is `error` |
//! | `uno_lifecycle_close_duration_seconds` | histogram | `name` | how long each close took, whatever its outcome (a timed-out one: its time limit) |
//! | `uno_lifecycle_shutdown_duration_seconds` | histogram | `name` | how long each [`AsyncManager::shutdown`] took, tasks and resources |
//!
//! A context group made for every request registers its handles every time (a few registry
//! look-ups with the feature on, nothing without it); name such groups alike, so they share one
//! set of series.
//!
//! # Tracing
//!
//! With the `tracing` feature, events with the target `uno_core::lifecycle`; `name` is the
//! manager's or the group's name, `resource` and `task` the registered names, durations are
//! `Debug`-formatted [`Duration`]s.
//!
//! | event (message) | level | fields | when |
//! |---|---|---|---|
//! | `shutdown requested` | INFO | `name` | [`AsyncManager::request_shutdown`] (also by [`run_application`]), the first time |
//! | `shutdown signal received` | INFO | `name`, `signal` (`SIGINT`, `SIGTERM`, or `unknown` for [`run_application`]'s plain future) | [`run_application`] woke on its signal |
//! | `shutdown started` | INFO | `name`, `tasks` (running), `resources`, `timeout` | [`AsyncManager::shutdown`] begins |
//! | `task stopped` | DEBUG | `name`, `task`, `elapsed` (from the start of the shutdown) | a task returned within the shutdown |
//! | `task missed the shutdown deadline` | WARN | `name`, `task`, `deadline`, `abandoned` (still not dropped at the deadline) | a task was cancelled at the deadline |
//! | `task panicked` | WARN | `name`, `task`, `panic` (the panic message) | a task stopped by shutdown had panicked |
//! | `resource closed` | DEBUG | `name`, `resource`, `elapsed` | a close succeeded (manager or group) |
//! | `resource close failed` | WARN | `name`, `resource`, `elapsed`, `error` (the error and its sources) | a close returned an error or panicked |
//! | `resource close timed out` | WARN | `name`, `resource`, `limit` | a close ran out of time and was dropped |
//! | `application cleanup failed` | WARN | `name`, `error` | [`run_application`]'s cleanup timed out or panicked |
//! | `shutdown finished` | INFO | `name`, `elapsed`, `tasks_stopped`, `tasks_cancelled`, `resources_closed`, `resources_failed`, `clean` | [`AsyncManager::shutdown`] returns |

mod application;
mod builder;
mod close;
mod context_group;
mod error;
mod manager;
mod report;
mod signal;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::observe::{Description, Kind, Unit};

pub use application::{
    ApplicationReport, Cleanup, ShutdownReason, Startup, run_application, run_application_with,
};
pub use builder::{AsyncContextGroupBuilder, AsyncManagerBuilder};
pub use context_group::{AsyncContextGroup, ContextScope, context_group};
pub use error::{
    ApplicationError, BoxError, CloseError, ConfigError, ContextCloseError, ContextGroupError,
    LifecycleError, ResourceError,
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

/// The metrics this module reports (see [`crate::observe`]), for `describe_metrics`.
pub(crate) const METRICS: &[crate::observe::Description] = &[
    Description {
        name: close::RESOURCES,
        kind: Kind::Gauge,
        unit: Unit::Count,
        help: "Resources registered with a manager or entered into a context group, not yet taken for closing.",
    },
    Description {
        name: close::CLOSES,
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Resource closes, by outcome: ok, error (failed or panicked), timeout.",
    },
    Description {
        name: close::CLOSE_DURATION,
        kind: Kind::Histogram,
        unit: Unit::Seconds,
        help: "How long each resource close took, whatever its outcome.",
    },
    Description {
        name: close::SHUTDOWN_DURATION,
        kind: Kind::Histogram,
        unit: Unit::Seconds,
        help: "How long each AsyncManager::shutdown took: tasks, then resources.",
    },
];
