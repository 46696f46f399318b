//! The task manager's errors: a refused spawn, and a managed task's outcome.

use std::fmt;

/// The errors of [`TaskManager::spawn`](super::TaskManager::spawn).
///
/// A duplicate name is refused while the task of that name runs: pick another name, or cancel it
/// first. A manager that is shut down takes no new tasks.
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
            TaskManagerError::DuplicateName { name } => {
                write!(f, "task \"{name}\" is already running")
            }
            TaskManagerError::ShutDown => f.write_str("task manager is shut down"),
        }
    }
}

impl std::error::Error for TaskManagerError {}

/// Why a [`ManagedTask`](super::ManagedTask) did not return `Ok(())`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManagedTaskError<E> {
    /// The task's future returned this error. Transparent: `Display` and `source()` are the
    /// error's own.
    Failed(E),
    /// The task panicked: in a poll, or in its `Drop` (when it finished, or when it was cancelled).
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The task was cancelled (by name, at shutdown, or because its executor dropped it) before it
    /// finished.
    Cancelled,
}

impl<E> ManagedTaskError<E> {
    /// Whether the task was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskManager;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let tasks = TaskManager::new(&rt);
    /// let poller = tasks.spawn("poller", std::future::pending::<Result<(), String>>()).unwrap();
    /// tasks.cancel("poller");
    /// assert!(poller.await.unwrap_err().is_cancelled());
    /// # });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, ManagedTaskError::Cancelled)
    }

    /// Whether the task panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{ManagedTaskError, TaskManager};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let tasks = TaskManager::new(&rt);
    /// let buggy = tasks.spawn("buggy", async { panic!("index 3 of 2") }).unwrap();
    /// let err: ManagedTaskError<String> = buggy.await.unwrap_err();
    /// assert!(err.is_panic());
    /// # });
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, ManagedTaskError::Panicked { .. })
    }
}

impl<E: fmt::Display> fmt::Display for ManagedTaskError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManagedTaskError::Failed(error) => error.fmt(f),
            ManagedTaskError::Panicked { message } => write!(f, "task panicked: {message}"),
            ManagedTaskError::Cancelled => f.write_str("task was cancelled"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ManagedTaskError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: the user's error is shown, so its own source comes next.
            ManagedTaskError::Failed(error) => error.source(),
            _ => None,
        }
    }
}
