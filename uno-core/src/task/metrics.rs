//! The metric handles of task groups and task managers, registered once when each is built (see
//! [`crate::observe`]); the table of what they report is `super::METRICS`.

use crate::observe::{Counter, Gauge, Name};

/// How a child or a managed task ended, as the `outcome` label says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Error,
    Panicked,
    Cancelled,
}

/// One counter per outcome, so counting one is a single atomic add.
#[derive(Debug)]
struct ByOutcome {
    ok: Counter,
    error: Counter,
    panicked: Counter,
    cancelled: Counter,
}

impl ByOutcome {
    fn new(metric: &'static str, name: &Name) -> Self {
        let counter = |outcome| Counter::new(metric, name, &[("outcome", outcome)]);
        ByOutcome {
            ok: counter("ok"),
            error: counter("error"),
            panicked: counter("panicked"),
            cancelled: counter("cancelled"),
        }
    }

    fn count(&self, outcome: Outcome) {
        match outcome {
            Outcome::Ok => &self.ok,
            Outcome::Error => &self.error,
            Outcome::Panicked => &self.panicked,
            Outcome::Cancelled => &self.cancelled,
        }
        .increment(1);
    }
}

/// A spawned-total counter, a finished-by-outcome counter and a running gauge: what a group and a
/// manager both report, under their own metric names.
#[derive(Debug)]
pub(crate) struct TaskMetrics {
    spawned: Counter,
    finished: ByOutcome,
    running: Gauge,
}

impl TaskMetrics {
    /// The handles of a task group named `name`.
    pub(crate) fn group(name: &Name) -> Self {
        TaskMetrics {
            spawned: Counter::new("uno_task_group_children_spawned_total", name, &[]),
            finished: ByOutcome::new("uno_task_group_children_completed_total", name),
            running: Gauge::new("uno_task_group_children_running", name, &[]),
        }
    }

    /// The handles of a task manager named `name`.
    pub(crate) fn manager(name: &Name) -> Self {
        TaskMetrics {
            spawned: Counter::new("uno_task_manager_tasks_spawned_total", name, &[]),
            finished: ByOutcome::new("uno_task_manager_tasks_finished_total", name),
            running: Gauge::new("uno_task_manager_tasks_running", name, &[]),
        }
    }

    pub(crate) fn spawned(&self) {
        self.spawned.increment(1);
        self.running.increment(1.0);
    }

    pub(crate) fn finished(&self, outcome: Outcome) {
        self.finished.count(outcome);
        self.running.decrement(1.0);
    }
}
