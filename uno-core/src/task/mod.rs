//! Tasks: the core's own handle over any [`Spawner`](crate::rt::Spawner), with one drop policy.
//!
//! Executors disagree on what dropping a task handle means (tokio detaches, smol cancels). uno does
//! not inherit either: a [`Task`] **cancels its task when dropped** on every backend, unless it was
//! [detached](Task::detach) explicitly. A panic inside a task is caught and comes back as a
//! [`JoinError`] that keeps the panic's original payload, again on every backend.
//!
//! - `handle`: [`Task`], the handle, and its cloneable [`AbortHandle`];
//! - `runner`: the future the executor polls for it, and `pair`, which makes the two;
//! - `state`: what the two share, with its implementation notes (loom-modelled);
//! - `blocking`: [`BlockingJob`] and [`blocking`], the same for a closure on a thread pool;
//! - `error`: [`JoinError`] and the [`PanicPayload`] it keeps;
//! - `group`: [`TaskGroup`] and [`task_group`], structured concurrency;
//! - `manager`: [`TaskManager`], a registry of named long-lived tasks;
//! - `shield`: [`shield`], work that cancellation does not interrupt;
//! - `yield_now`: [`yield_now`];
//! - `metrics`: the metric handles of groups and managers.
//!
//! # Metrics
//!
//! With the `metrics` feature (see [`crate::observe`]), every [`TaskGroup`] and [`TaskManager`]
//! reports under the `name` label given to its builder (default `"task_group"`,
//! `"task_manager"`). A [`Task`] of [`Runtime::spawn`](crate::rt::Runtime::spawn) reports nothing:
//! it has no name.
//!
//! | metric | kind | labels | meaning |
//! |---|---|---|---|
//! | `uno_task_group_children_spawned_total` | counter | `name` | children spawned into the group |
//! | `uno_task_group_children_completed_total` | counter | `name`, `outcome` = `ok` / `error` / `panicked` / `cancelled` | children that ended, by how |
//! | `uno_task_group_children_running` | gauge | `name` | children spawned and not ended (waiting for a place or running) |
//! | `uno_task_manager_tasks_spawned_total` | counter | `name` | tasks spawned by the manager |
//! | `uno_task_manager_tasks_finished_total` | counter | `name`, `outcome` = `ok` / `error` / `panicked` / `cancelled` | tasks that ended, by how |
//! | `uno_task_manager_tasks_running` | gauge | `name` | tasks spawned and not ended |
//!
//! # Tracing
//!
//! With the `tracing` feature: [`Runtime::spawn`](crate::rt::Runtime::spawn) (and
//! `spawn_blocking`, `spawn_local`) runs the task inside the caller's current span;
//! [`Runtime::spawn_without_span`](crate::rt::Runtime::spawn_without_span) opts out. Events have
//! the target `uno_core::task`.
//!
//! | span or event | level | fields | when |
//! |---|---|---|---|
//! | span `uno_task` | INFO | `name` (group or manager), `task` (child or task) | around every poll of a group's child or a manager's task; its parent is the spawner's current span |
//! | `task group child failed` | WARN | `name`, `task` | a child returned `Err` |
//! | `task group child panicked` | WARN | `name`, `task`, `panic` (the message) | a child panicked (in a poll or in its `Drop`) |
//! | `task group cancelling the other children after a failure` | DEBUG | `name`, `task` (the one that failed) | a fail-fast group's first failure |
//! | `task group shut down` | DEBUG | `name` | [`TaskGroup::shutdown`] finished |
//! | `task manager task failed` | WARN | `name`, `task`, `error` (its `Display`) | a managed task returned `Err` |
//! | `task manager task panicked` | WARN | `name`, `task`, `panic` | a managed task panicked |
//! | `task manager shutting down` | DEBUG | `name`, `running` | [`TaskManager::shutdown`] started |
//! | `task manager shut down` | DEBUG | `name`, `stopped` | every task stopped in time |
//! | `task manager tasks did not stop in time` | WARN | `name`, `stopped`, `timed_out`, `abandoned` | some tasks were cancelled at the deadline |

mod blocking;
mod error;
mod group;
mod handle;
mod manager;
mod metrics;
mod runner;
mod shield;
mod state;
mod yield_now;

pub use blocking::{BlockingJob, blocking};
pub use error::{JoinError, PanicPayload};
pub use group::{
    ChildError, ChildHandle, GroupConfigError, GroupError, GroupSpawner, TaskGroup,
    TaskGroupBuilder, task_group,
};
pub use handle::{AbortHandle, Task};
pub use manager::{
    ManagedTask, ManagedTaskError, TaskInfo, TaskManager, TaskManagerBuilder, TaskManagerError,
    TaskPanic, TaskShutdownReport, TaskState,
};
pub(crate) use runner::pair;
pub use shield::{Shielded, shield};
pub use yield_now::{YieldNow, yield_now};

/// The metrics this module reports (see [`crate::observe`]), for `describe_metrics`.
pub(crate) const METRICS: &[crate::observe::Description] = {
    use crate::observe::{Description, Kind, Unit};
    const fn count(name: &'static str, kind: Kind, help: &'static str) -> Description {
        Description {
            name,
            kind,
            unit: Unit::Count,
            help,
        }
    }
    &[
        count(
            "uno_task_group_children_spawned_total",
            Kind::Counter,
            "Children spawned into the task group.",
        ),
        count(
            "uno_task_group_children_completed_total",
            Kind::Counter,
            "Children of the task group that ended, by outcome (ok, error, panicked, cancelled).",
        ),
        count(
            "uno_task_group_children_running",
            Kind::Gauge,
            "Children of the task group spawned and not yet ended (waiting or running).",
        ),
        count(
            "uno_task_manager_tasks_spawned_total",
            Kind::Counter,
            "Tasks spawned by the task manager.",
        ),
        count(
            "uno_task_manager_tasks_finished_total",
            Kind::Counter,
            "Tasks of the task manager that ended, by outcome (ok, error, panicked, cancelled).",
        ),
        count(
            "uno_task_manager_tasks_running",
            Kind::Gauge,
            "Tasks of the task manager spawned and not yet ended.",
        ),
    ]
};
