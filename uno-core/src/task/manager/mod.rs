//! [`TaskManager`]: a long-lived registry of named tasks.
//!
//! Each task's user future runs inside a [`Contained`] wrapper, so a panic in any of its polls or
//! in its `Drop` (when it finishes or when it is cancelled) is recorded as the task's outcome and
//! never unwinds into the executor. The outcome lives in one [`Record`] per task, shared by the
//! running future, the registry's row and the caller's [`ManagedTask`] handle.

mod error;
mod report;

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::loom::{Mutex, MutexGuard};
use crate::observe::{Name, event};
use crate::panic::{self, Contained};
use crate::rt::Runtime;
use crate::sync::CancellationToken;
use crate::task::Task;
use crate::task::metrics::{Outcome, TaskMetrics};
use crate::time::deadline_after;

pub use error::{ManagedTaskError, TaskManagerError};
pub use report::{TaskInfo, TaskPanic, TaskShutdownReport, TaskState};

/// What a manager reports about itself: its name and its metric handles, shared by the registry
/// and every task's [`Record`] (which counts its own end).
struct Observer {
    name: Name,
    metrics: TaskMetrics,
}

/// One task's outcome: set once, by the task's future or, if that is dropped first, by its
/// [`Contained`] wrapper's cancel hook.
struct Record<E> {
    /// The task's name, for the events of its end.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    task: String,
    observer: Arc<Observer>,
    inner: Mutex<RecordState<E>>,
}

struct RecordState<E> {
    state: TaskState,
    /// For the [`ManagedTask`]; `None` while running and once the handle took it.
    outcome: Option<Result<(), ManagedTaskError<E>>>,
    /// The handle read the outcome.
    taken: bool,
    /// The task was cancelled before it finished.
    cancelled: bool,
    /// The message of a panic in a poll or in the `Drop` of the task's future.
    panic: Option<String>,
    waker: Option<Waker>,
}

impl<E> Record<E> {
    fn new(task: String, observer: Arc<Observer>) -> Arc<Self> {
        Arc::new(Record {
            task,
            observer,
            inner: Mutex::new(RecordState {
                state: TaskState::Running,
                outcome: None,
                taken: false,
                cancelled: false,
                panic: None,
                waker: None,
            }),
        })
    }

    /// Publishes the outcome unless one already was, counts it, and wakes the handle.
    fn settle(
        &self,
        state: TaskState,
        outcome: Result<(), ManagedTaskError<E>>,
        cancelled: bool,
        panic: Option<String>,
    ) {
        let waker = {
            let mut inner = self.inner.lock();
            if inner.state != TaskState::Running {
                return;
            }
            self.report(&state, outcome.as_ref().err(), panic.as_deref());
            inner.state = state;
            inner.outcome = Some(outcome);
            inner.cancelled = cancelled;
            inner.panic = panic;
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<E> Record<E> {
    /// Counts the task's end and, for a failure, emits its WARN event.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    fn report(&self, state: &TaskState, error: Option<&ManagedTaskError<E>>, panic: Option<&str>) {
        let observer = &self.observer;
        let outcome = match (state, error) {
            (TaskState::Failed { .. }, Some(ManagedTaskError::Panicked { .. })) => {
                event!(
                    warn,
                    "uno_core::task",
                    name = %observer.name,
                    task = self.task.as_str(),
                    panic = panic.unwrap_or_default(),
                    "task manager task panicked"
                );
                Outcome::Panicked
            }
            (TaskState::Failed { error }, _) => {
                event!(
                    warn,
                    "uno_core::task",
                    name = %observer.name,
                    task = self.task.as_str(),
                    error = error.as_str(),
                    "task manager task failed"
                );
                Outcome::Error
            }
            (TaskState::Cancelled, _) => Outcome::Cancelled,
            _ => Outcome::Ok,
        };
        observer.metrics.finished(outcome);
    }
}

impl<E: fmt::Display> Record<E> {
    /// The task's future completed (returned, or panicked in a poll or in its drop).
    fn finished(&self, output: Result<Result<(), E>, String>) {
        match output {
            Ok(Ok(())) => self.settle(TaskState::Finished, Ok(()), false, None),
            Ok(Err(error)) => {
                // `Display` is user code too: a panicking one must not leave the task "running".
                let text = panic::call(|| error.to_string())
                    .unwrap_or_else(|message| format!("<its Display panicked: {message}>"));
                let state = TaskState::Failed { error: text };
                self.settle(state, Err(ManagedTaskError::Failed(error)), false, None);
            }
            Err(message) => {
                let state = TaskState::Failed {
                    error: format!("panicked: {message}"),
                };
                let outcome = Err(ManagedTaskError::Panicked {
                    message: message.clone(),
                });
                self.settle(state, outcome, false, Some(message));
            }
        }
    }

    /// The task's future was dropped before it completed; `panic` is its `Drop`'s panic.
    fn cancelled(&self, panic: Option<String>) {
        match panic {
            None => self.settle(
                TaskState::Cancelled,
                Err(ManagedTaskError::Cancelled),
                true,
                None,
            ),
            Some(message) => {
                let state = TaskState::Failed {
                    error: format!("panicked when cancelled: {message}"),
                };
                let outcome = Err(ManagedTaskError::Panicked {
                    message: message.clone(),
                });
                self.settle(state, outcome, true, Some(message));
            }
        }
    }
}

/// What the registry reads of a task's [`Record`], whatever its error type.
trait Tracked: Send + Sync {
    fn state(&self) -> TaskState;
    fn was_cancelled(&self) -> bool;
    fn panic(&self) -> Option<String>;
}

impl<E: Send> Tracked for Record<E> {
    fn state(&self) -> TaskState {
        self.inner.lock().state.clone()
    }

    fn was_cancelled(&self) -> bool {
        self.inner.lock().cancelled
    }

    fn panic(&self) -> Option<String> {
        self.inner.lock().panic.clone()
    }
}

/// The handle [`TaskManager::spawn`] and
/// [`AsyncManager::spawn_task`](crate::lifecycle::AsyncManager::spawn_task) return: await it for
/// the task's outcome.
///
/// The registry owns the task, not the handle: **dropping the handle does not cancel the task**
/// (cancel it by name, [`TaskManager::cancel`]), and the task keeps its row in
/// [`TaskManager::list`] whether or not anyone awaits it.
///
/// # Examples
///
/// ```
/// use uno_core::rt::VirtualRuntime;
/// use uno_core::task::{ManagedTaskError, TaskManager};
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async move {
///     let tasks = TaskManager::new(&rt);
///     let import = tasks.spawn("import", async { Err("bad row 7") }).unwrap();
///     assert_eq!(import.name(), "import");
///     assert_eq!(import.await, Err(ManagedTaskError::Failed("bad row 7")));
///
///     let warmup = tasks.spawn("warmup", async { Ok::<_, String>(()) }).unwrap();
///     assert_eq!(warmup.await, Ok(()));
/// });
/// ```
///
/// # Cancel safety
///
/// Cancel safe: dropping the handle (for example in the losing branch of a `select`) only stops
/// waiting. The task runs on, and its outcome is still recorded in the registry.
pub struct ManagedTask<E> {
    name: String,
    record: Arc<Record<E>>,
}

impl<E> ManagedTask<E> {
    /// The task's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskManager;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let tasks = TaskManager::new(&rt);
    /// let task = tasks.spawn("indexer", async { Ok::<_, String>(()) }).unwrap();
    /// assert_eq!(task.name(), "indexer");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the task has finished (returned, failed, panicked or been cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{TaskManager, yield_now};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let tasks = TaskManager::new(&rt);
    /// let task = tasks.spawn("once", async { Ok::<_, String>(()) }).unwrap();
    /// assert!(!task.is_finished()); // not run yet
    /// yield_now().await;
    /// assert!(task.is_finished());
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.record.inner.lock().state != TaskState::Running
    }
}

impl<E> Future for ManagedTask<E> {
    type Output = Result<(), ManagedTaskError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.record.inner.lock();
        if let Some(outcome) = inner.outcome.take() {
            inner.taken = true;
            inner.waker = None;
            return Poll::Ready(outcome);
        }
        assert!(!inner.taken, "`ManagedTask` polled after it returned");
        match &mut inner.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<E> Unpin for ManagedTask<E> {}

impl<E> fmt::Debug for ManagedTask<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedTask")
            .field("name", &self.name)
            .field("finished", &self.is_finished())
            .finish()
    }
}

struct Entry {
    name: String,
    /// The runtime it was spawned on: its age is read on that clock.
    rt: Runtime,
    started: Instant,
    record: Arc<dyn Tracked>,
    /// `None` once shutdown (or `cancel_and_wait`) took it.
    task: Option<Task<()>>,
}

impl Entry {
    fn is_running(&self) -> bool {
        self.record.state() == TaskState::Running
    }
}

struct Entries {
    list: Vec<Entry>,
    shut_down: bool,
}

/// The registry every view of one [`TaskManager`] shares; views differ in their runtime.
struct Registry {
    observer: Arc<Observer>,
    token: CancellationToken,
    entries: Mutex<Entries>,
}

impl Registry {
    fn new(name: Name) -> Arc<Self> {
        Arc::new(Registry {
            observer: Arc::new(Observer {
                metrics: TaskMetrics::manager(&name),
                name,
            }),
            token: CancellationToken::new(),
            entries: Mutex::new(Entries {
                list: Vec::new(),
                shut_down: false,
            }),
        })
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock()
    }
}

/// The most of a shutdown's time kept for cancelling the tasks that did not stop by themselves.
const MAX_CANCEL_RESERVE: Duration = Duration::from_secs(1);

/// The end of a shutdown's graceful part, as a duration from its start: tasks get all of `timeout`
/// but its last tenth (at most [`MAX_CANCEL_RESERVE`]), which is kept for the cancellation.
fn graceful_part(timeout: Duration) -> Duration {
    timeout - (timeout / 10).min(MAX_CANCEL_RESERVE)
}

/// A long-lived registry of named tasks: spawn (with a [`ManagedTask`] handle to await),
/// [`list`](Self::list) (name, state, age), [`cancel`](Self::cancel) by name, and
/// [`shutdown`](Self::shutdown) within a deadline.
///
/// Clones share one registry. Dropping the last clone cancels every task still running.
///
/// Shutdown is graceful first: it cancels the [`shutdown_token`](Self::shutdown_token), which tasks
/// watch to finish their work and return, waits for them, and then cancels (drops) those still
/// running, reporting them as timed out — all within its deadline, whatever the tasks do.
///
/// A task's panic — in a poll, or in its `Drop` when it finishes or is cancelled — is caught and
/// becomes its outcome ([`TaskState::Failed`], [`ManagedTaskError::Panicked`]); it never reaches
/// the executor.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::rt::VirtualRuntime;
/// use uno_core::task::{TaskManager, TaskState};
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async move {
///     let tasks = TaskManager::new(&rt);
///     let token = tasks.shutdown_token();
///     tasks
///         .spawn("heartbeat", async move {
///             token.cancelled().await; // stops when asked to
///             Ok::<_, std::io::Error>(())
///         })
///         .unwrap();
///     tasks.spawn("stuck", std::future::pending::<Result<(), String>>()).unwrap();
///     rt.sleep(Duration::from_secs(5)).await;
///     let listed = tasks.list();
///     assert_eq!(listed[0].name, "heartbeat");
///     assert_eq!(listed[0].state, TaskState::Running);
///     assert_eq!(listed[0].age, Duration::from_secs(5));
///
///     let report = tasks.shutdown(Duration::from_secs(1)).await;
///     assert_eq!(report.stopped, ["heartbeat"]);
///     assert_eq!(report.timed_out, ["stuck"]);
/// });
/// ```
#[derive(Clone)]
pub struct TaskManager {
    registry: Arc<Registry>,
    /// Where this view spawns, and whose clock its shutdown reads.
    rt: Runtime,
}

impl TaskManager {
    /// An empty registry on `rt`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{TaskManager, TaskState};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let tasks = TaskManager::new(&rt);
    /// assert!(tasks.list().is_empty());
    /// tasks.spawn("warmup", async { Ok::<_, String>(()) }).unwrap();
    /// assert_eq!(tasks.state("warmup"), Some(TaskState::Running));
    /// ```
    pub fn new(rt: &Runtime) -> Self {
        Self::builder(rt).build()
    }

    /// A builder, to name the manager.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskManager;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let jobs = TaskManager::builder(&rt).name("jobs").build();
    /// assert_eq!(jobs.name(), "jobs");
    /// ```
    pub fn builder(rt: &Runtime) -> TaskManagerBuilder {
        TaskManagerBuilder {
            rt: rt.clone(),
            name: Name::kind("task_manager"),
        }
    }

    /// The manager's name, given to [`TaskManagerBuilder::name`] (default `"task_manager"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskManager;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// assert_eq!(TaskManager::new(&rt).name(), "task_manager");
    /// ```
    pub fn name(&self) -> &str {
        self.registry.observer.name.as_str()
    }

    /// A view of the same registry that spawns on `rt`, and whose shutdown reads `rt`'s clock.
    pub(crate) fn with_runtime(&self, rt: &Runtime) -> Self {
        TaskManager {
            registry: self.registry.clone(),
            rt: rt.clone(),
        }
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// The token cancelled when [`shutdown`](Self::shutdown) starts: tasks watch it to stop
    /// gracefully.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskManager;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let tasks = TaskManager::new(&rt);
    /// let token = tasks.shutdown_token();
    /// tasks.spawn("consumer", async move {
    ///     token.cancelled().await; // finish the current message, then return
    ///     Ok::<_, String>(())
    /// }).unwrap();
    /// let report = tasks.shutdown(Duration::from_secs(5)).await;
    /// assert_eq!(report.stopped, ["consumer"]);
    /// # });
    /// ```
    pub fn shutdown_token(&self) -> CancellationToken {
        self.registry.token.clone()
    }

    /// Whether [`shutdown`](Self::shutdown) has started.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{TaskManager, TaskManagerError};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let tasks = TaskManager::new(&rt);
    /// assert!(!tasks.is_shut_down());
    /// tasks.shutdown(Duration::from_secs(1)).await;
    /// assert!(tasks.is_shut_down());
    /// let late = tasks.spawn("late", async { Ok::<_, String>(()) });
    /// assert_eq!(late.unwrap_err(), TaskManagerError::ShutDown);
    /// # });
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.registry.entries().shut_down
    }

    /// Starts a task named `name` on this manager's runtime and returns its handle. Its future
    /// returns `Ok(())` or an error whose `Display` text is kept in the registry
    /// ([`TaskState::Failed`]) and whose value the handle returns; a panic — in a poll, or in the
    /// future's `Drop` when it finishes or is cancelled — is caught and kept the same way.
    ///
    /// A finished task's name can be reused (the new task replaces its row).
    ///
    /// # Errors
    ///
    /// [`TaskManagerError::DuplicateName`] if a running task has this name;
    /// [`TaskManagerError::ShutDown`] after [`shutdown`](Self::shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{ManagedTaskError, TaskManager, TaskManagerError, TaskState};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let tasks = TaskManager::new(&rt);
    /// let import = tasks.spawn("import", async { Err("bad row 7") }).unwrap();
    /// let again = tasks.spawn("import", async { Ok::<_, String>(()) });
    /// assert_eq!(again.unwrap_err(), TaskManagerError::DuplicateName { name: "import".into() });
    /// assert_eq!(import.await, Err(ManagedTaskError::Failed("bad row 7")));
    /// let failed = TaskState::Failed { error: "bad row 7".into() };
    /// assert_eq!(tasks.state("import"), Some(failed));
    /// # });
    /// ```
    pub fn spawn<F, E>(
        &self,
        name: impl Into<String>,
        future: F,
    ) -> Result<ManagedTask<E>, TaskManagerError>
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        let name = name.into();
        let mut entries = self.registry.entries();
        if entries.shut_down {
            return Err(TaskManagerError::ShutDown);
        }
        if let Some(i) = entries.list.iter().position(|e| e.name == name) {
            if entries.list[i].is_running() {
                return Err(TaskManagerError::DuplicateName { name });
            }
            entries.list.remove(i);
        }
        let record = Record::<E>::new(name.clone(), self.registry.observer.clone());
        let on_cancel = {
            let record = record.clone();
            move |panic| record.cancelled(panic)
        };
        // Dropped before it completes (cancelled, or dropped by the executor), the wrapper drops
        // the user's future first and then records the cancellation: "cancelled" means "dropped".
        let future = Contained::new(future).on_cancel(on_cancel);
        let finished = record.clone();
        let run = async move { finished.finished(future.await) };
        // With `tracing`, the task runs inside a span named after it and the manager; its parent
        // is the caller's current span, so the runtime need not add it again.
        #[cfg(feature = "tracing")]
        let run = tracing::Instrument::instrument(
            run,
            tracing::info_span!("uno_task", name = %self.registry.observer.name, task = %name),
        );
        let task = self.rt.spawn_without_span(run);
        self.registry.observer.metrics.spawned();
        entries.list.push(Entry {
            name: name.clone(),
            rt: self.rt.clone(),
            started: self.rt.now(),
            record: record.clone(),
            task: Some(task),
        });
        Ok(ManagedTask { name, record })
    }

    /// Every task, running or not, in spawn order.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{TaskManager, TaskState, yield_now};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let tasks = TaskManager::new(&rt);
    /// tasks.spawn("server", std::future::pending::<Result<(), String>>()).unwrap();
    /// tasks.spawn("migrate", async { Ok::<_, String>(()) }).unwrap();
    /// yield_now().await;
    /// let rows: Vec<_> = tasks.list().into_iter().map(|t| (t.name, t.state)).collect();
    /// assert_eq!(rows[0], ("server".to_string(), TaskState::Running));
    /// assert_eq!(rows[1], ("migrate".to_string(), TaskState::Finished));
    /// # });
    /// ```
    pub fn list(&self) -> Vec<TaskInfo> {
        self.registry
            .entries()
            .list
            .iter()
            .map(|entry| TaskInfo {
                name: entry.name.clone(),
                state: entry.record.state(),
                age: entry.rt.now().saturating_duration_since(entry.started),
            })
            .collect()
    }

    /// The state of the task named `name`, if there is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{TaskManager, TaskState, yield_now};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let tasks = TaskManager::new(&rt);
    /// tasks.spawn("warmup", async { Ok::<_, String>(()) }).unwrap();
    /// assert_eq!(tasks.state("warmup"), Some(TaskState::Running));
    /// yield_now().await;
    /// assert_eq!(tasks.state("warmup"), Some(TaskState::Finished));
    /// assert_eq!(tasks.state("unknown"), None);
    /// # });
    /// ```
    pub fn state(&self, name: &str) -> Option<TaskState> {
        self.registry
            .entries()
            .list
            .iter()
            .find(|entry| entry.name == name)
            .map(|entry| entry.record.state())
    }

    /// Cancels the running task named `name`. Returns whether there was one.
    ///
    /// Its state becomes [`TaskState::Cancelled`] once the executor has dropped its future (at its
    /// next poll); use [`cancel_and_wait`](Self::cancel_and_wait) to wait for that.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{TaskManager, TaskState, yield_now};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let tasks = TaskManager::new(&rt);
    /// tasks.spawn("poller", std::future::pending::<Result<(), String>>()).unwrap();
    /// assert!(tasks.cancel("poller"));
    /// assert!(!tasks.cancel("unknown"));
    /// yield_now().await; // the executor drops its future
    /// assert_eq!(tasks.state("poller"), Some(TaskState::Cancelled));
    /// # });
    /// ```
    pub fn cancel(&self, name: &str) -> bool {
        let entries = self.registry.entries();
        match entries.list.iter().find(|entry| entry.name == name) {
            Some(entry) if entry.is_running() => {
                if let Some(task) = &entry.task {
                    task.cancel();
                }
                true
            }
            _ => false,
        }
    }

    /// Cancels the running task named `name` and waits until its future has been dropped. Returns
    /// whether there was one.
    ///
    /// The wait lasts until the task's executor polls it again; bound it with
    /// [`Runtime::timeout`] if that executor may be stalled.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{TaskManager, TaskState};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let tasks = TaskManager::new(&rt);
    /// tasks.spawn("poller", std::future::pending::<Result<(), String>>()).unwrap();
    /// assert!(tasks.cancel_and_wait("poller").await);
    /// assert_eq!(tasks.state("poller"), Some(TaskState::Cancelled)); // already
    /// assert!(!tasks.cancel_and_wait("poller").await); // no longer running
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// The task is cancelled as soon as this is first polled; dropping the future only gives up
    /// waiting.
    pub async fn cancel_and_wait(&self, name: &str) -> bool {
        let task = {
            let mut entries = self.registry.entries();
            match entries.list.iter_mut().find(|entry| entry.name == name) {
                Some(entry) if entry.is_running() => entry.task.take(),
                _ => None,
            }
        };
        match task {
            Some(task) => {
                let _ = task.cancel_and_wait().await;
                true
            }
            None => false,
        }
    }

    /// Removes the rows of tasks that are no longer running. Returns how many were removed.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{TaskManager, yield_now};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let tasks = TaskManager::new(&rt);
    /// tasks.spawn("once", async { Ok::<_, String>(()) }).unwrap();
    /// tasks.spawn("forever", std::future::pending::<Result<(), String>>()).unwrap();
    /// yield_now().await;
    /// assert_eq!(tasks.remove_finished(), 1);
    /// assert_eq!(tasks.list()[0].name, "forever");
    /// # });
    /// ```
    pub fn remove_finished(&self) -> usize {
        let mut entries = self.registry.entries();
        let before = entries.list.len();
        entries.list.retain(Entry::is_running);
        before - entries.list.len()
    }

    /// Shuts every task down **within `timeout`**, whatever the tasks do: cancels the
    /// [`shutdown_token`](Self::shutdown_token) and waits for the running tasks to return; at the
    /// last tenth of `timeout` (at most its last second), cancels those still running and waits,
    /// until `timeout`, for their futures to be dropped. The manager takes no new tasks afterwards.
    ///
    /// Tasks whose futures were still not dropped at the deadline — their executor did not poll
    /// them again, or their `Drop` blocks — are reported as
    /// [`abandoned`](TaskShutdownReport::abandoned) and left behind. A panic in a task's poll or
    /// `Drop` is [reported](TaskShutdownReport::panicked), never propagated. A zero timeout cancels
    /// at once and waits for nothing; one too large to represent saturates. A second call finds
    /// nothing left to stop and returns an empty report.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskManager;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let tasks = TaskManager::new(&rt);
    /// let token = tasks.shutdown_token();
    /// tasks.spawn("graceful", async move { Ok::<_, String>(token.cancelled().await) }).unwrap();
    /// tasks.spawn("stubborn", std::future::pending::<Result<(), String>>()).unwrap();
    /// let start = rt.now();
    /// let report = tasks.shutdown(Duration::from_secs(3)).await;
    /// assert_eq!(report.stopped, ["graceful"]);
    /// assert_eq!(report.timed_out, ["stubborn"]);
    /// // Cancelled after 2.7 s (the last tenth is kept for cancelling), dropped at once.
    /// assert_eq!(rt.now() - start, Duration::from_millis(2700));
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future drops the tasks it had taken over, which cancels them
    /// without a report. The manager stays shut down.
    pub async fn shutdown(&self, timeout: Duration) -> TaskShutdownReport {
        let rt = &self.rt;
        let start = rt.now();
        let cancel_at = deadline_after(start, graceful_part(timeout));
        let deadline = deadline_after(start, timeout);
        let mut pending: Vec<Pending> = {
            let mut entries = self.registry.entries();
            entries.shut_down = true;
            entries
                .list
                .iter_mut()
                .filter(|entry| entry.is_running())
                .filter_map(|entry| {
                    Some(Pending {
                        name: entry.name.clone(),
                        record: entry.record.clone(),
                        task: entry.task.take()?,
                    })
                })
                .collect()
        };
        self.registry.token.cancel();
        #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
        let observer = &self.registry.observer;
        event!(
            debug,
            "uno_core::task",
            name = %observer.name,
            running = pending.len(),
            "task manager shutting down"
        );

        let mut stopped = Vec::new();
        wait_until(rt, cancel_at, &mut pending, &mut stopped).await;
        for task in &pending {
            task.task.cancel();
        }
        let mut cancelled = Vec::new();
        wait_until(rt, deadline, &mut pending, &mut cancelled).await;

        let mut report = TaskShutdownReport::default();
        for task in stopped.iter().chain(&cancelled).chain(&pending) {
            if let Some(message) = task.record.panic() {
                report.panicked.push(TaskPanic {
                    name: task.name.clone(),
                    message,
                });
            }
        }
        report.stopped = stopped.into_iter().map(|t| t.name).collect();
        for task in cancelled {
            // One that finished by itself just before its cancellation still counts as stopped.
            if task.record.was_cancelled() {
                report.timed_out.push(task.name);
            } else {
                report.stopped.push(task.name);
            }
        }
        for task in pending {
            report.timed_out.push(task.name.clone());
            report.abandoned.push(task.name);
        }
        if report.timed_out.is_empty() {
            event!(
                debug,
                "uno_core::task",
                name = %observer.name,
                stopped = report.stopped.len(),
                "task manager shut down"
            );
        } else {
            event!(
                warn,
                "uno_core::task",
                name = %observer.name,
                stopped = report.stopped.len(),
                timed_out = report.timed_out.len(),
                abandoned = report.abandoned.len(),
                "task manager tasks did not stop in time"
            );
        }
        report
    }
}

/// Configures a [`TaskManager`]: its name. From [`TaskManager::builder`].
///
/// # Examples
///
/// ```
/// use uno_core::rt::VirtualRuntime;
/// use uno_core::task::TaskManager;
///
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// let tasks = TaskManager::builder(&rt).name("background").build();
/// assert_eq!(tasks.name(), "background");
/// ```
#[must_use = "a builder does nothing until `.build()` is called"]
#[derive(Clone)]
pub struct TaskManagerBuilder {
    rt: Runtime,
    name: Name,
}

impl TaskManagerBuilder {
    /// The manager's name (default `"task_manager"`): in the `name` label of its metrics and the
    /// `name` field of its tasks' spans and its events.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskManager;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let tasks = TaskManager::builder(&rt).name("consumers").build();
    /// assert_eq!(tasks.name(), "consumers");
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Name::new(name);
        self
    }

    /// Builds the manager: an empty registry. Nothing here can be invalid, so it returns the
    /// manager itself rather than a `Result`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskManager;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let tasks = TaskManager::builder(&rt).build();
    /// assert!(tasks.list().is_empty());
    /// ```
    pub fn build(self) -> TaskManager {
        TaskManager {
            registry: Registry::new(self.name),
            rt: self.rt,
        }
    }
}

impl fmt::Debug for TaskManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskManagerBuilder")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A task a shutdown is waiting for.
struct Pending {
    name: String,
    record: Arc<dyn Tracked>,
    task: Task<()>,
}

/// Waits until every task of `pending` has finished or `deadline` has passed, moving the finished
/// ones to `done` in the order they finished.
async fn wait_until(
    rt: &Runtime,
    deadline: Instant,
    pending: &mut Vec<Pending>,
    done: &mut Vec<Pending>,
) {
    let all = poll_fn(|cx| {
        let mut i = 0;
        while i < pending.len() {
            if Pin::new(&mut pending[i].task).poll(cx).is_ready() {
                done.push(pending.remove(i));
            } else {
                i += 1;
            }
        }
        if pending.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    });
    let _ = rt.timeout_at(deadline, "", all).await;
}

impl fmt::Debug for TaskManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.registry.entries();
        f.debug_struct("TaskManager")
            .field("name", &self.registry.observer.name)
            .field("tasks", &entries.list.len())
            .field("shut_down", &entries.shut_down)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::graceful_part;

    /// The last tenth of a shutdown is kept for cancelling, but never more than a second of it.
    #[test]
    fn the_cancel_reserve_is_a_tenth_at_most_a_second() {
        assert_eq!(graceful_part(Duration::ZERO), Duration::ZERO);
        assert_eq!(
            graceful_part(Duration::from_millis(50)),
            Duration::from_millis(45)
        );
        assert_eq!(
            graceful_part(Duration::from_secs(30)),
            Duration::from_secs(29)
        );
        assert_eq!(
            graceful_part(Duration::MAX),
            Duration::MAX - Duration::from_secs(1)
        );
        assert_eq!(
            graceful_part(Duration::from_nanos(9)),
            Duration::from_nanos(9)
        );
    }
}
