//! What the [`TaskManager`](super::TaskManager) reports: a task's state, a row of its listing,
//! and what a shutdown did.

use std::time::Duration;

/// Where a [`TaskManager`](super::TaskManager)'s task is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Still running (or waiting to be polled).
    Running,
    /// Returned `Ok(())`.
    Finished,
    /// Returned an error, or panicked (in a poll, or in its `Drop` when it finished or was
    /// cancelled).
    Failed {
        /// The error's `Display` text, `"panicked: <message>"`, or, for a panic in the `Drop` of
        /// a cancelled task, `"panicked when cancelled: <message>"`.
        error: String,
    },
    /// Cancelled (by name, at shutdown, or because the executor dropped it) before it finished.
    Cancelled,
}

/// One row of [`TaskManager::list`](super::TaskManager::list).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The name given at spawn.
    pub name: String,
    /// Its state now.
    pub state: TaskState,
    /// Time since it was spawned, on the clock of the runtime it was spawned on.
    pub age: Duration,
}

/// A task that panicked while it was being shut down: in a poll after the shutdown token fired,
/// or in its `Drop` when it was cancelled. From [`TaskShutdownReport::panicked`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskPanic {
    /// The task's name.
    pub name: String,
    /// The panic message.
    pub message: String,
}

/// What [`TaskManager::shutdown`](super::TaskManager::shutdown) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskShutdownReport {
    /// Tasks that were running and stopped by themselves before they were cancelled (returning
    /// `Ok`, an error, or panicking), in the order they stopped.
    pub stopped: Vec<String>,
    /// Tasks still running when the graceful part of the shutdown ended: they were cancelled
    /// (their futures dropped).
    pub timed_out: Vec<String>,
    /// The tasks of [`timed_out`](Self::timed_out) whose futures had still not been dropped at the
    /// deadline (their executor did not run them again in time, or their `Drop` blocks): shutdown
    /// returned without them, and they may still be running.
    pub abandoned: Vec<String>,
    /// Tasks that panicked during the shutdown, in a poll or in their `Drop`; each is also listed
    /// in [`stopped`](Self::stopped) or [`timed_out`](Self::timed_out).
    pub panicked: Vec<TaskPanic>,
}

impl TaskShutdownReport {
    /// Whether every task stopped in time and none panicked.
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
        self.timed_out.is_empty() && self.panicked.is_empty()
    }
}
