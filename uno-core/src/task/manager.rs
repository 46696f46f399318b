//! [`TaskManager`]: a long-lived registry of named tasks.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::rt::Runtime;
use crate::sync::CancellationToken;
use crate::task::Task;
use crate::task::group::CatchPanic;
use crate::time::deadline_after;

/// Where a [`TaskManager`]'s task is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Still running (or waiting to be polled).
    Running,
    /// Returned `Ok(())`.
    Finished,
    /// Returned an error, or panicked.
    Failed {
        /// The error's `Display` text, or `"panicked: <message>"`.
        error: String,
    },
    /// Cancelled (by name, at shutdown, or because the executor dropped it) before it finished.
    Cancelled,
}

/// One row of [`TaskManager::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The name given at spawn.
    pub name: String,
    /// Its state now.
    pub state: TaskState,
    /// Time since it was spawned, on the runtime's clock.
    pub age: Duration,
}

/// What [`TaskManager::shutdown`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskShutdownReport {
    /// Tasks that were running and stopped by themselves before the deadline, in the order they
    /// stopped.
    pub stopped: Vec<String>,
    /// Tasks still running at the deadline: they were cancelled (their futures dropped).
    pub timed_out: Vec<String>,
}

impl TaskShutdownReport {
    /// Whether every task stopped in time.
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
    /// tasks.spawn("stuck", std::future::pending::<Result<(), String>>()).unwrap();
    /// let report = tasks.shutdown(Duration::from_secs(1)).await;
    /// assert!(!report.is_clean());
    /// assert_eq!(report.timed_out, ["stuck"]);
    /// # });
    /// ```
    pub fn is_clean(&self) -> bool {
        self.timed_out.is_empty()
    }
}

/// The errors of [`TaskManager::spawn`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskManagerError {
    /// A running task already has this name.
    DuplicateName {
        /// The name in use.
        name: String,
    },
    /// The manager has been shut down and takes no new tasks.
    ShutDown,
}

impl fmt::Display for TaskManagerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskManagerError::DuplicateName { name } => write!(
                f,
                "a task named `{name}` is already running: pick another name, or cancel it first"
            ),
            TaskManagerError::ShutDown => {
                f.write_str("the task manager has been shut down: it takes no new tasks")
            }
        }
    }
}

impl std::error::Error for TaskManagerError {}

type Status = Arc<Mutex<TaskState>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Entry {
    name: String,
    started: Instant,
    status: Status,
    /// `None` once shutdown (or `cancel_and_wait`) took it.
    task: Option<Task<()>>,
}

struct Entries {
    list: Vec<Entry>,
    shut_down: bool,
}

struct Inner {
    rt: Runtime,
    token: CancellationToken,
    entries: Mutex<Entries>,
}

/// Marks a task cancelled if its future is dropped before it finished.
struct StatusGuard {
    status: Status,
}

impl Drop for StatusGuard {
    fn drop(&mut self) {
        let mut state = lock(&self.status);
        if *state == TaskState::Running {
            *state = TaskState::Cancelled;
        }
    }
}

/// A long-lived registry of named tasks: spawn, [`list`](Self::list) (name, state, age),
/// [`cancel`](Self::cancel) by name, and [`shutdown`](Self::shutdown) within a deadline.
///
/// Clones share one registry. Dropping the last clone cancels every task still running.
///
/// Shutdown is graceful first: it cancels the [`shutdown_token`](Self::shutdown_token), which tasks
/// watch to finish their work and return, waits for them until the deadline, and only then cancels
/// (drops) those still running, reporting them as timed out.
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
    inner: Arc<Inner>,
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
        TaskManager {
            inner: Arc::new(Inner {
                rt: rt.clone(),
                token: CancellationToken::new(),
                entries: Mutex::new(Entries {
                    list: Vec::new(),
                    shut_down: false,
                }),
            }),
        }
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
        self.inner.token.clone()
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
    /// assert_eq!(late, Err(TaskManagerError::ShutDown));
    /// # });
    /// ```
    pub fn is_shut_down(&self) -> bool {
        lock(&self.inner.entries).shut_down
    }

    /// Starts a task named `name`. Its future returns `Ok(())` or an error whose `Display` text is
    /// kept ([`TaskState::Failed`]); a panic is caught and kept the same way.
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
    /// use uno_core::task::{TaskManager, TaskManagerError, TaskState, yield_now};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let tasks = TaskManager::new(&rt);
    /// tasks.spawn("import", async { Err("bad row 7") }).unwrap();
    /// let again = tasks.spawn("import", async { Ok::<_, String>(()) });
    /// assert_eq!(again, Err(TaskManagerError::DuplicateName { name: "import".into() }));
    /// yield_now().await; // let it run
    /// let failed = TaskState::Failed { error: "bad row 7".into() };
    /// assert_eq!(tasks.state("import"), Some(failed));
    /// # });
    /// ```
    pub fn spawn<F, E>(&self, name: impl Into<String>, future: F) -> Result<(), TaskManagerError>
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        let name = name.into();
        let mut entries = lock(&self.inner.entries);
        if entries.shut_down {
            return Err(TaskManagerError::ShutDown);
        }
        if let Some(i) = entries.list.iter().position(|e| e.name == name) {
            if *lock(&entries.list[i].status) == TaskState::Running {
                return Err(TaskManagerError::DuplicateName { name });
            }
            entries.list.remove(i);
        }
        let status: Status = Arc::new(Mutex::new(TaskState::Running));
        let guard = StatusGuard {
            status: status.clone(),
        };
        let run = async move {
            let guard = guard;
            let state = match CatchPanic::new(future).await {
                Ok(Ok(())) => TaskState::Finished,
                Ok(Err(error)) => TaskState::Failed {
                    error: error.to_string(),
                },
                Err(message) => TaskState::Failed {
                    error: format!("panicked: {message}"),
                },
            };
            *lock(&guard.status) = state;
        };
        // With `tracing`, the task runs inside a span named after it.
        #[cfg(feature = "tracing")]
        let run =
            tracing::Instrument::instrument(run, tracing::info_span!("uno_task", task = %name));
        let task = self.inner.rt.spawn(run);
        entries.list.push(Entry {
            name,
            started: self.inner.rt.now(),
            status,
            task: Some(task),
        });
        Ok(())
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
        let now = self.inner.rt.now();
        lock(&self.inner.entries)
            .list
            .iter()
            .map(|entry| TaskInfo {
                name: entry.name.clone(),
                state: lock(&entry.status).clone(),
                age: now.saturating_duration_since(entry.started),
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
        lock(&self.inner.entries)
            .list
            .iter()
            .find(|entry| entry.name == name)
            .map(|entry| lock(&entry.status).clone())
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
        let entries = lock(&self.inner.entries);
        match entries.list.iter().find(|entry| entry.name == name) {
            Some(entry) if *lock(&entry.status) == TaskState::Running => {
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
            let mut entries = lock(&self.inner.entries);
            match entries.list.iter_mut().find(|entry| entry.name == name) {
                Some(entry) if *lock(&entry.status) == TaskState::Running => entry.task.take(),
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
        let mut entries = lock(&self.inner.entries);
        let before = entries.list.len();
        entries
            .list
            .retain(|entry| *lock(&entry.status) == TaskState::Running);
        before - entries.list.len()
    }

    /// Shuts every task down: cancels the [`shutdown_token`](Self::shutdown_token), waits up to
    /// `timeout` for the running tasks to return, then cancels those still running and waits for
    /// their futures to be dropped. The manager takes no new tasks afterwards.
    ///
    /// A timeout too large to represent saturates. A second call finds nothing left to stop and
    /// returns an empty report.
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
    /// assert_eq!(rt.now() - start, Duration::from_secs(3)); // waited out the deadline
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future drops the tasks it had taken over, which cancels them
    /// without a report. The manager stays shut down.
    pub async fn shutdown(&self, timeout: Duration) -> TaskShutdownReport {
        let deadline = deadline_after(self.inner.rt.now(), timeout);
        let pending: Vec<(String, Task<()>)> = {
            let mut entries = lock(&self.inner.entries);
            entries.shut_down = true;
            entries
                .list
                .iter_mut()
                .filter(|entry| *lock(&entry.status) == TaskState::Running)
                .filter_map(|entry| Some((entry.name.clone(), entry.task.take()?)))
                .collect()
        };
        self.inner.token.cancel();
        let (stopped, timed_out) = join_until(&self.inner.rt, deadline, pending).await;
        TaskShutdownReport { stopped, timed_out }
    }
}

/// Waits for `tasks` until `deadline`; then cancels the rest and waits for them to be dropped.
/// Returns the names that finished in time (in finishing order) and those that did not.
async fn join_until(
    rt: &Runtime,
    deadline: Instant,
    tasks: Vec<(String, Task<()>)>,
) -> (Vec<String>, Vec<String>) {
    let mut pending: Vec<Option<(String, Task<()>)>> = tasks.into_iter().map(Some).collect();
    let mut stopped = Vec::new();
    let all = poll_fn(|cx| {
        let mut left = false;
        for slot in pending.iter_mut() {
            if let Some((name, task)) = slot {
                if Pin::new(task).poll(cx).is_ready() {
                    stopped.push(std::mem::take(name));
                    *slot = None;
                } else {
                    left = true;
                }
            }
        }
        if left { Poll::Pending } else { Poll::Ready(()) }
    });
    let _ = rt.timeout_at(deadline, "", all).await;
    let mut timed_out = Vec::new();
    for (name, task) in pending.into_iter().flatten() {
        // A task that finished right at the deadline still counts as stopped.
        if task.is_finished() {
            stopped.push(name);
        } else {
            let _ = task.cancel_and_wait().await;
            timed_out.push(name);
        }
    }
    (stopped, timed_out)
}

impl fmt::Debug for TaskManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = lock(&self.inner.entries);
        f.debug_struct("TaskManager")
            .field("tasks", &entries.list.len())
            .field("shut_down", &entries.shut_down)
            .finish()
    }
}
