//! Reading what `metrics_util`'s debugging recorder saw, for the metrics tests.
//!
//! A snapshot of the debugging recorder resets what it reports: the next one holds what changed
//! since (a counter's increments, a gauge's change rather than its level).

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, Snapshotter};

/// Every metric the recorder holds, as `name{label=value,...}` (labels sorted) to its value.
pub(crate) fn snapshot(snapshotter: &Snapshotter) -> BTreeMap<String, DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key().clone();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            (format!("{}{{{}}}", key.name(), labels.join(",")), value)
        })
        .collect()
}

pub(crate) fn counter(n: u64) -> DebugValue {
    DebugValue::Counter(n)
}

pub(crate) fn gauge(value: f64) -> DebugValue {
    DebugValue::Gauge(value.into())
}

/// A histogram of durations, in seconds.
pub(crate) fn seconds(durations: &[Duration]) -> DebugValue {
    DebugValue::Histogram(durations.iter().map(|d| d.as_secs_f64().into()).collect())
}
