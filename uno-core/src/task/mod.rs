//! Tasks: the core's own handle over any [`Spawner`](crate::rt::Spawner), with one drop policy.
//!
//! Executors disagree on what dropping a task handle means (tokio detaches, smol cancels). uno does
//! not inherit either: a [`Task`] **cancels its task when dropped** on every backend, unless it was
//! [detached](Task::detach) explicitly. A panic inside a task is caught and comes back as
//! [`JoinError::Panicked`] with the panic message, again on every backend.
//!
//! - `handle`: [`Task`], the handle;
//! - `runner`: the future the executor polls for it, and `pair`, which makes the two;
//! - `state`: what the two share, with its implementation notes (loom-modelled);
//! - `blocking`: [`BlockingJob`] and [`blocking`], the same for a closure on a thread pool;
//! - `error`: [`JoinError`];
//! - `group`: [`TaskGroup`] and [`task_group`], structured concurrency;
//! - `manager`: [`TaskManager`], a registry of named long-lived tasks;
//! - `shield`: [`shield`], work that cancellation does not interrupt;
//! - `yield_now`: [`yield_now`].

mod blocking;
mod error;
mod group;
mod handle;
mod manager;
mod runner;
mod shield;
mod state;
mod yield_now;

pub use blocking::{BlockingJob, blocking};
pub use error::JoinError;
pub use group::{
    ChildError, ChildHandle, GroupConfigError, GroupError, GroupSpawner, TaskGroup,
    TaskGroupBuilder, task_group,
};
pub use handle::Task;
pub use manager::{
    ManagedTask, ManagedTaskError, TaskInfo, TaskManager, TaskManagerError, TaskPanic,
    TaskShutdownReport, TaskState,
};
pub(crate) use runner::pair;
pub use shield::{Shielded, shield};
pub use yield_now::{YieldNow, yield_now};

/// The metrics this module reports (see [`crate::observe`]), for `describe_metrics`.
pub(crate) const METRICS: &[crate::observe::Description] = &[];
