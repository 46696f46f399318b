use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::lifecycle::close::{Closer, SHUTDOWN_DURATION};
use crate::lifecycle::{
    AsyncClose, AsyncManagerBuilder, DEFAULT_CLOSE_TIMEOUT, LifecycleError, Named, ShutdownReport,
};
use crate::loom::{Mutex, MutexGuard};
use crate::observe::{Histogram, Name, event};
use crate::rt::Runtime;
use crate::sync::CancellationToken;
use crate::task::{ManagedTask, TaskManager, TaskManagerError};

struct Resources {
    list: Vec<Named>,
    /// Shutdown has taken the list: nothing new is accepted.
    closed: bool,
}

/// What every view of one manager shares (views differ in their runtime; see
/// [`get_async_manager`]).
struct Shared {
    resources: Mutex<Resources>,
    close_timeout: Duration,
    /// The manager's name and the metrics of its closes.
    closer: Closer,
    shutdown_duration: Histogram,
    /// When each task returned once shutdown was requested, for the `task stopped` events.
    #[cfg(feature = "tracing")]
    returned: Mutex<Vec<(String, std::time::Instant)>>,
}

impl Shared {
    fn resources(&self) -> MutexGuard<'_, Resources> {
        self.resources.lock()
    }
}

/// Owns an application's resources and background tasks, and shuts them down in order (the Uno
/// framework's `AsyncManager`).
///
/// - [`register_resource`](Self::register_resource) takes anything with an [`AsyncClose`];
/// - [`spawn_task`](Self::spawn_task) starts a named background task (Uno's `@as_task`), kept in a
///   [`TaskManager`] ([`tasks`](Self::tasks) lists them), and returns a handle to await its outcome;
/// - [`shutdown_token`](Self::shutdown_token) is cancelled when shutdown starts (or when someone
///   calls [`request_shutdown`](Self::request_shutdown)); tasks watch it to stop gracefully;
/// - [`shutdown`](Self::shutdown) stops the tasks first (waiting for them, then cancelling the
///   rest, all within its timeout), then closes the resources **in reverse registration order**,
///   each within its close timeout, and reports what failed, panicked or timed out. It is bounded
///   whatever tasks and resources do.
///
/// Clones share one manager. Instances are independent; [`get_async_manager`] gives the
/// process-wide one the Uno API has.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::lifecycle::{AsyncManager, CloseError, on_close};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async move {
///     let manager = AsyncManager::builder(&rt)
///         .name("api")
///         .close_timeout(Duration::from_secs(2))
///         .build()
///         .unwrap();
///     manager.register_resource("ok", on_close(|| async { Ok(()) })).unwrap();
///     manager
///         .register_resource("broken", on_close(|| async { Err("disk full".into()) }))
///         .unwrap();
///     let report = manager.shutdown(Duration::from_secs(1)).await;
///     assert_eq!(report.closed, ["ok"]);
///     assert_eq!(report.failed[0].name, "broken");
///     assert!(matches!(report.failed[0].error, CloseError::Failed(_)));
/// });
/// ```
#[derive(Clone)]
pub struct AsyncManager {
    shared: Arc<Shared>,
    /// The background tasks, as a view bound to this manager's runtime.
    tasks: TaskManager,
}

impl AsyncManager {
    /// A manager on `rt` named `"async_manager"`, closing each resource within
    /// [`DEFAULT_CLOSE_TIMEOUT`]. For another name or close timeout, use
    /// [`builder`](Self::builder).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::AsyncManager;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let manager = AsyncManager::new(&rt);
    /// assert_eq!(manager.name(), "async_manager");
    /// assert!(manager.resources().is_empty());
    /// assert!(!manager.is_shutting_down());
    /// ```
    pub fn new(rt: &Runtime) -> Self {
        Self::from_parts(rt, Name::kind("async_manager"), DEFAULT_CLOSE_TIMEOUT)
    }

    /// A builder for a manager on `rt`, to set its [name](AsyncManagerBuilder::name) (for its
    /// errors, reports, metrics and events) and its
    /// [close timeout](AsyncManagerBuilder::close_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::{AsyncManager, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let manager = AsyncManager::builder(&rt)
    ///     .name("api")
    ///     .close_timeout(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(manager.name(), "api");
    /// manager.register_resource("hung", on_close(|| std::future::pending())).unwrap();
    /// let report = manager.shutdown(Duration::from_secs(1)).await;
    /// assert!(report.failed[0].error.is_timeout()); // given up after 2 seconds
    /// # });
    /// ```
    pub fn builder(rt: &Runtime) -> AsyncManagerBuilder {
        AsyncManagerBuilder::new(rt)
    }

    /// Builds the manager of a checked configuration.
    pub(crate) fn from_parts(rt: &Runtime, name: Name, close_timeout: Duration) -> Self {
        // Its background tasks report under the manager's name.
        let tasks = TaskManager::builder(rt).name(name.shared()).build();
        AsyncManager {
            shared: Arc::new(Shared {
                resources: Mutex::new(Resources {
                    list: Vec::new(),
                    closed: false,
                }),
                close_timeout,
                shutdown_duration: Histogram::new(SHUTDOWN_DURATION, &name, &[]),
                closer: Closer::new(name),
                #[cfg(feature = "tracing")]
                returned: Mutex::new(Vec::new()),
            }),
            tasks,
        }
    }

    /// The manager's name: `"async_manager"` unless given to its
    /// [builder](AsyncManagerBuilder::name). It appears in its errors, its [`ShutdownReport`],
    /// the `name` label of its metrics and the `name` field of its events.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::AsyncManager;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let manager = AsyncManager::builder(&rt).name("worker").build().unwrap();
    /// assert_eq!(manager.name(), "worker");
    /// ```
    pub fn name(&self) -> &str {
        self.shared.closer.name.as_str()
    }

    fn manager_name(&self) -> Arc<str> {
        self.shared.closer.name.shared()
    }

    /// A view of the same manager (resources, tasks, shutdown token) bound to `rt`: what it
    /// spawns runs on `rt`, and its shutdown reads `rt`'s clock.
    fn with_runtime(&self, rt: &Runtime) -> Self {
        AsyncManager {
            shared: self.shared.clone(),
            tasks: self.tasks.with_runtime(rt),
        }
    }

    /// The runtime the manager runs on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::AsyncManager;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let manager = AsyncManager::new(&rt);
    /// let rt = manager.runtime(); // e.g. inside a cleanup callback that only gets the manager
    /// let start = rt.now();
    /// rt.sleep(Duration::from_secs(1)).await;
    /// assert_eq!(rt.now() - start, Duration::from_secs(1));
    /// # });
    /// ```
    pub fn runtime(&self) -> &Runtime {
        self.tasks.runtime()
    }

    /// Registers `resource` under `name`, to be closed at shutdown, and gives it back shared.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::DuplicateName`] if a resource has this name;
    /// [`LifecycleError::ShuttingDown`] once [`shutdown`](Self::shutdown) has started.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::{AsyncManager, LifecycleError, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let manager = AsyncManager::new(&rt);
    /// manager.register_resource("db", on_close(|| async { Ok(()) })).unwrap();
    /// let dup = manager.register_resource("db", on_close(|| async { Ok(()) }));
    /// assert!(matches!(dup.unwrap_err(), LifecycleError::DuplicateName { name, .. } if name == "db"));
    /// manager.shutdown(Duration::from_secs(1)).await;
    /// let late = manager.register_resource("cache", on_close(|| async { Ok(()) }));
    /// assert!(matches!(late.unwrap_err(), LifecycleError::ShuttingDown { .. }));
    /// # });
    /// ```
    pub fn register_resource<R: AsyncClose>(
        &self,
        name: impl Into<String>,
        resource: R,
    ) -> Result<Arc<R>, LifecycleError> {
        let name = name.into();
        let mut resources = self.shared.resources();
        if resources.closed {
            return Err(LifecycleError::ShuttingDown {
                manager: self.manager_name(),
            });
        }
        if resources.list.iter().any(|(n, _)| *n == name) {
            return Err(LifecycleError::DuplicateName {
                manager: self.manager_name(),
                name,
            });
        }
        let resource = Arc::new(resource);
        resources.list.push((name, resource.clone()));
        self.shared.closer.resources.increment(1.0);
        Ok(resource)
    }

    /// Names of the registered resources, in registration order.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::{AsyncManager, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let manager = AsyncManager::new(&rt);
    /// manager.register_resource("db", on_close(|| async { Ok(()) })).unwrap();
    /// manager.register_resource("cache", on_close(|| async { Ok(()) })).unwrap();
    /// assert_eq!(manager.resources(), ["db", "cache"]);
    /// ```
    pub fn resources(&self) -> Vec<String> {
        self.shared
            .resources()
            .list
            .iter()
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Starts a named background task (Uno's `@as_task`) on the manager's
    /// [runtime](Self::runtime), and returns its handle. It should watch
    /// [`shutdown_token`](Self::shutdown_token) and return when it fires; near the shutdown
    /// deadline it is cancelled (see [`TaskManager::shutdown`]).
    ///
    /// Awaiting the [`ManagedTask`] gives the task's outcome: `Ok(())`, its error, its panic (in a
    /// poll or in its `Drop`), or its cancellation. Dropping the handle does not cancel the task.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::DuplicateName`] if a running task has this name;
    /// [`LifecycleError::ShuttingDown`] once [`shutdown`](Self::shutdown) has started.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::{AsyncManager, LifecycleError};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let manager = AsyncManager::new(&rt);
    /// let token = manager.shutdown_token();
    /// let metrics = async move { Ok::<_, String>(token.cancelled().await) };
    /// let handle = manager.spawn_task("metrics", metrics).unwrap();
    /// let dup = manager.spawn_task("metrics", async { Ok::<_, String>(()) });
    /// assert!(matches!(dup.unwrap_err(), LifecycleError::DuplicateName { name, .. } if name == "metrics"));
    /// let report = manager.shutdown(Duration::from_secs(1)).await;
    /// assert_eq!(report.tasks.stopped, ["metrics"]);
    /// assert_eq!(handle.await, Ok(())); // it returned when the token fired
    /// # });
    /// ```
    pub fn spawn_task<F, E>(
        &self,
        name: impl Into<String>,
        future: F,
    ) -> Result<ManagedTask<E>, LifecycleError>
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        let name = name.into();
        #[cfg(feature = "tracing")]
        let future = {
            // Notes when the task returns after shutdown was requested: the `task stopped`
            // event's duration. Nothing is kept for tasks that return before.
            let (shared, rt, token, task) = (
                self.shared.clone(),
                self.runtime().clone(),
                self.shutdown_token(),
                name.clone(),
            );
            async move {
                let outcome = future.await;
                if token.is_cancelled() {
                    shared.returned.lock().push((task, rt.now()));
                }
                outcome
            }
        };
        self.tasks.spawn(name, future).map_err(|error| match error {
            TaskManagerError::DuplicateName { name, .. } => LifecycleError::DuplicateName {
                manager: self.manager_name(),
                name,
            },
            _ => LifecycleError::ShuttingDown {
                manager: self.manager_name(),
            },
        })
    }

    /// The background tasks, to list or cancel by name.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::AsyncManager;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let manager = AsyncManager::new(&rt);
    /// manager.spawn_task("poller", std::future::pending::<Result<(), String>>()).unwrap();
    /// assert_eq!(manager.tasks().list()[0].name, "poller");
    /// assert!(manager.tasks().cancel("poller"));
    /// ```
    pub fn tasks(&self) -> &TaskManager {
        &self.tasks
    }

    /// Whether shutdown has been requested or started.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::AsyncManager;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let manager = AsyncManager::new(&rt);
    /// assert!(!manager.is_shutting_down());
    /// manager.request_shutdown();
    /// assert!(manager.is_shutting_down());
    /// ```
    pub fn is_shutting_down(&self) -> bool {
        self.tasks.shutdown_token().is_cancelled()
    }

    /// The token cancelled when shutdown is requested or starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::AsyncManager;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let manager = AsyncManager::new(&rt);
    /// let token = manager.shutdown_token();
    /// manager.spawn_task("consumer", async move {
    ///     token.cancelled().await; // finish the current message, then return
    ///     Ok::<_, String>(())
    /// }).unwrap();
    /// let report = manager.shutdown(Duration::from_secs(5)).await;
    /// assert_eq!(report.tasks.stopped, ["consumer"]);
    /// # });
    /// ```
    pub fn shutdown_token(&self) -> CancellationToken {
        self.tasks.shutdown_token()
    }

    /// Asks for a shutdown without performing it: cancels the [`shutdown_token`](Self::shutdown_token),
    /// which [`run_application`](super::run_application) waits on (a programmatic shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::{AsyncManager, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let manager = AsyncManager::new(&rt);
    /// manager.register_resource("db", on_close(|| async { Ok(()) })).unwrap();
    /// manager.request_shutdown();
    /// assert!(manager.shutdown_token().is_cancelled());
    /// assert_eq!(manager.resources(), ["db"]); // nothing closed: `shutdown` does that
    /// ```
    pub fn request_shutdown(&self) {
        let token = self.tasks.shutdown_token();
        if !token.is_cancelled() {
            event!(info, "uno_core::lifecycle", name = %self.name(), "shutdown requested");
        }
        token.cancel();
    }

    /// Shuts down: cancels the shutdown token, stops the tasks within `timeout` (waiting for them,
    /// then cancelling those still running: [`TaskManager::shutdown`]), then closes the resources
    /// in reverse registration order, each within the close timeout, **all of them** even when
    /// some fail. Returns what happened.
    ///
    /// The whole is bounded, whatever tasks and resources do: at most `timeout` plus one close
    /// timeout per resource. A close that fails, hangs, or panics (when called, in a poll, or when
    /// its future is dropped) is [reported](ShutdownReport::failed), and the next resource is
    /// closed all the same. A second call finds nothing left and returns an empty report.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::{AsyncManager, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let manager = AsyncManager::new(&rt);
    /// let token = manager.shutdown_token();
    /// let worker = async move { Ok::<_, String>(token.cancelled().await) };
    /// manager.spawn_task("worker", worker).unwrap();
    /// manager.register_resource("db", on_close(|| async { Ok(()) })).unwrap();
    /// let report = manager.shutdown(Duration::from_secs(5)).await;
    /// assert!(report.is_clean());
    /// assert_eq!((report.tasks.stopped.len(), report.closed.len()), (1, 1));
    /// let again = manager.shutdown(Duration::from_secs(5)).await; // nothing left
    /// assert!(again.closed.is_empty() && again.tasks.stopped.is_empty());
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future abandons the tasks and resources it had taken over
    /// (tasks are cancelled; resources not yet closed are dropped without a close).
    pub async fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        let rt = self.runtime();
        let closer = &self.shared.closer;
        let start = rt.now();
        let resources = {
            let mut resources = self.shared.resources();
            resources.closed = true;
            std::mem::take(&mut resources.list)
        };
        closer.resources.decrement(resources.len() as f64);
        event!(
            info,
            "uno_core::lifecycle",
            name = %closer.name,
            tasks = self.tasks.list().iter().filter(|t| t.state == crate::task::TaskState::Running).count(),
            resources = resources.len(),
            ?timeout,
            "shutdown started"
        );
        let tasks = self.tasks.shutdown(timeout).await;
        #[cfg(feature = "tracing")]
        self.trace_tasks(&tasks, start, timeout);
        let (closed, failed) = closer
            .close_all_lifo(rt, resources, self.shared.close_timeout)
            .await;
        let elapsed = rt.now().saturating_duration_since(start);
        self.shared.shutdown_duration.record_duration(elapsed);
        let report = ShutdownReport {
            tasks,
            closed,
            failed,
            elapsed,
            name: closer.name.shared(),
        };
        event!(
            info,
            "uno_core::lifecycle",
            name = %closer.name,
            ?elapsed,
            tasks_stopped = report.tasks.stopped.len(),
            tasks_cancelled = report.tasks.timed_out.len(),
            resources_closed = report.closed.len(),
            resources_failed = report.failed.len(),
            clean = report.is_clean(),
            "shutdown finished"
        );
        report
    }

    /// The events of the tasks' part of a shutdown that started at `start`.
    #[cfg(feature = "tracing")]
    fn trace_tasks(
        &self,
        report: &crate::task::TaskShutdownReport,
        start: std::time::Instant,
        timeout: Duration,
    ) {
        let name = &self.shared.closer.name;
        let returned = std::mem::take(&mut *self.shared.returned.lock());
        let phase = self.runtime().now().saturating_duration_since(start);
        for task in &report.stopped {
            // The last return under this name (a name is reused once its task finished).
            let elapsed = returned
                .iter()
                .rev()
                .find(|(n, _)| n == task)
                .map_or(phase, |(_, at)| at.saturating_duration_since(start));
            event!(debug, "uno_core::lifecycle", name = %name, task = %task, ?elapsed, "task stopped");
        }
        for task in &report.timed_out {
            event!(
                warn,
                "uno_core::lifecycle",
                name = %name,
                task = %task,
                deadline = ?timeout,
                abandoned = report.abandoned.contains(task),
                "task missed the shutdown deadline"
            );
        }
        for panic in &report.panicked {
            event!(
                warn,
                "uno_core::lifecycle",
                name = %name,
                task = %panic.name,
                panic = %panic.message,
                "task panicked"
            );
        }
    }
}

impl fmt::Debug for AsyncManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncManager")
            .field("name", &self.shared.closer.name)
            .field("resources", &self.resources())
            .field("tasks", &self.tasks)
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}

/// The process-wide [`AsyncManager`] (the Uno framework's `get_async_manager()`), **bound to
/// `rt`**.
///
/// Every call returns a view of one process-wide manager — the same resources, background tasks
/// and shutdown token — that works on the runtime it was given: tasks it spawns run on `rt`, and
/// its shutdown reads `rt`'s clock. So code that runs on several runtimes in turn (one per test,
/// as with `#[tokio::test]`) never has its work sent to an earlier runtime that may be gone.
/// Resources are closed by whichever view calls [`shutdown`](AsyncManager::shutdown), on its
/// runtime. Once the process-wide manager is shut down it stays so: later registrations and spawns
/// fail with [`LifecycleError::ShuttingDown`].
///
/// Prefer passing a plain [`AsyncManager::new`] around where you can: it needs no global state and
/// is easier to test.
///
/// # Examples
///
/// ```
/// use uno_core::lifecycle::{get_async_manager, on_close};
/// use uno_core::rt::VirtualRuntime;
///
/// let first = VirtualRuntime::new();
/// get_async_manager(&first.handle())
///     .register_resource("db", on_close(|| async { Ok(()) }))
///     .unwrap();
///
/// let second = VirtualRuntime::new(); // e.g. the next test's runtime
/// let manager = get_async_manager(&second.handle());
/// assert_eq!(manager.resources(), ["db"]); // one manager
/// let task = manager.spawn_task("job", async { Ok::<_, String>(()) }).unwrap();
/// assert_eq!(second.block_on(task), Ok(())); // ran on `second`, the runtime it was given
/// ```
pub fn get_async_manager(rt: &Runtime) -> AsyncManager {
    static MANAGER: OnceLock<AsyncManager> = OnceLock::new();
    MANAGER
        .get_or_init(|| AsyncManager::new(rt))
        .with_runtime(rt)
}
