//! The batcher's metric handles, registered once when it is built (see [`crate::observe`]), and
//! the table that describes them ([`METRICS`]).

use std::time::Duration;

use crate::observe::{Counter, Description, Gauge, Histogram, Kind, Name, Unit};

const ITEMS_ADDED: &str = "uno_batch_items_added_total";
const ITEMS_REJECTED: &str = "uno_batch_items_rejected_total";
const FLUSHES: &str = "uno_batch_flushes_total";
const SIZE: &str = "uno_batch_size";
const OPERATION_DURATION: &str = "uno_batch_operation_duration_seconds";
const FAILURES: &str = "uno_batch_failures_total";
const QUEUED_ITEMS: &str = "uno_batch_queued_items";
const IN_FLIGHT: &str = "uno_batch_in_flight";

/// Every metric a batcher reports; the module docs' "Metrics" table says the same.
pub(crate) const METRICS: &[Description] = &[
    Description {
        name: ITEMS_ADDED,
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Items accepted into the batcher's queue.",
    },
    Description {
        name: ITEMS_REJECTED,
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Items refused because the batcher's queue was full.",
    },
    Description {
        name: FLUSHES,
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Batches flushed, by reason (full, timed, idle, close).",
    },
    Description {
        name: SIZE,
        kind: Kind::Histogram,
        unit: Unit::Count,
        help: "Items per flushed batch.",
    },
    Description {
        name: OPERATION_DURATION,
        kind: Kind::Histogram,
        unit: Unit::Seconds,
        help: "How long batch operations ran.",
    },
    Description {
        name: FAILURES,
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Batches that failed for every item, by reason (operation, result_count, panic, cancelled).",
    },
    Description {
        name: QUEUED_ITEMS,
        kind: Kind::Gauge,
        unit: Unit::Count,
        help: "Items waiting for their batch to start.",
    },
    Description {
        name: IN_FLIGHT,
        kind: Kind::Gauge,
        unit: Unit::Count,
        help: "Batch operations running.",
    },
];

/// Why a batch left the queue: the `reason` of its flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flush {
    /// It held `max_batch_size` items.
    Full,
    /// Its oldest item had waited `max_wait_time`.
    Timed,
    /// A batch slot was free and the batcher flushes when idle.
    Idle,
    /// The batcher closed.
    Close,
}

impl Flush {
    pub(super) fn label(self) -> &'static str {
        match self {
            Flush::Full => "full",
            Flush::Timed => "timed",
            Flush::Idle => "idle",
            Flush::Close => "close",
        }
    }
}

/// Why a whole batch failed: the `reason` of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// The operation returned a batch-wide error.
    Operation,
    /// The operation returned the wrong number of results.
    ResultCount,
    /// The operation panicked.
    Panic,
    /// The runtime dropped the batch before it finished.
    Cancelled,
}

impl Failure {
    pub(super) fn label(self) -> &'static str {
        match self {
            Failure::Operation => "operation",
            Failure::ResultCount => "result_count",
            Failure::Panic => "panic",
            Failure::Cancelled => "cancelled",
        }
    }
}

/// The handles one batcher counts with (zero-sized without the `metrics` feature).
#[derive(Debug)]
pub(super) struct BatchMetrics {
    pub(super) items_added: Counter,
    pub(super) items_rejected: Counter,
    flushes: [Counter; 4],
    size: Histogram,
    pub(super) operation_duration: Histogram,
    failures: [Counter; 4],
    pub(super) queued_items: Gauge,
    pub(super) in_flight: Gauge,
}

impl BatchMetrics {
    pub(super) fn new(name: &Name) -> Self {
        let flush = |reason: Flush| Counter::new(FLUSHES, name, &[("reason", reason.label())]);
        let failure = |reason: Failure| Counter::new(FAILURES, name, &[("reason", reason.label())]);
        BatchMetrics {
            items_added: Counter::new(ITEMS_ADDED, name, &[]),
            items_rejected: Counter::new(ITEMS_REJECTED, name, &[]),
            flushes: [
                flush(Flush::Full),
                flush(Flush::Timed),
                flush(Flush::Idle),
                flush(Flush::Close),
            ],
            size: Histogram::new(SIZE, name, &[]),
            operation_duration: Histogram::new(OPERATION_DURATION, name, &[]),
            failures: [
                failure(Failure::Operation),
                failure(Failure::ResultCount),
                failure(Failure::Panic),
                failure(Failure::Cancelled),
            ],
            queued_items: Gauge::new(QUEUED_ITEMS, name, &[]),
            in_flight: Gauge::new(IN_FLIGHT, name, &[]),
        }
    }

    /// A batch of `size` items was flushed for `reason`.
    pub(super) fn flushed(&self, reason: Flush, size: usize) {
        self.flushes[reason as usize].increment(1);
        self.size.record(size as f64);
    }

    /// A batch operation ran for `duration`, and failed for `failure` if it is set.
    pub(super) fn ran(&self, duration: Duration, failure: Option<Failure>) {
        self.operation_duration.record_duration(duration);
        if let Some(failure) = failure {
            self.failed(failure);
        }
    }

    pub(super) fn failed(&self, failure: Failure) {
        self.failures[failure as usize].increment(1);
    }
}
