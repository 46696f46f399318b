//! Reading what `metrics_util`'s debugging recorder saw, for the metrics tests.
//!
//! A snapshot of the debugging recorder resets what it reports: the next one holds what changed
//! since (a counter's increments, a gauge's change rather than its level, the histogram values
//! recorded since). [`Recorded`] keeps both views: each snapshot, and the totals since the start.

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use uno_core::Runtime;
use uno_core::rt::VirtualRuntime;

/// Builds a component with `build` under a new debugging recorder, on a new virtual runtime.
///
/// uno's components register their metric handles when they are built, so the recorder is
/// installed (on this thread) only for `build`; what they report later goes to it all the same.
pub(crate) fn build_recorded<T>(
    build: impl FnOnce(&Runtime) -> T,
) -> (VirtualRuntime, Recorded, T) {
    let recorder = DebuggingRecorder::new();
    let recorded = Recorded::new(recorder.snapshotter());
    let vrt = VirtualRuntime::new();
    let built = metrics::with_local_recorder(&recorder, || build(&vrt.handle()));
    (vrt, recorded, built)
}

/// What a debugging recorder reported, snapshot by snapshot. Keys are `name{label=value,...}`,
/// labels sorted.
pub(crate) struct Recorded {
    snapshotter: Snapshotter,
    total: BTreeMap<String, DebugValue>,
    last: BTreeMap<String, DebugValue>,
    histograms: bool,
}

impl Recorded {
    pub(crate) fn new(snapshotter: Snapshotter) -> Self {
        Recorded {
            snapshotter,
            total: BTreeMap::new(),
            last: BTreeMap::new(),
            histograms: true,
        }
    }

    /// Fails the test at any snapshot holding a histogram: for components that register none.
    #[allow(
        dead_code,
        reason = "only the resilience policies register no histograms"
    )]
    pub(crate) fn without_histograms(mut self) -> Self {
        self.histograms = false;
        self
    }

    /// Takes a snapshot: it becomes [`last`](Self::last) and is added to the totals (counters
    /// and gauges summed, histogram values appended).
    pub(crate) fn take(&mut self) -> &mut Self {
        self.last.clear();
        for (key, value) in snapshot(&self.snapshotter) {
            if !self.histograms {
                assert!(
                    !matches!(value, DebugValue::Histogram(_)),
                    "{key}: no histogram expected"
                );
            }
            let sum = match (self.total.remove(&key), &value) {
                (Some(DebugValue::Counter(a)), DebugValue::Counter(b)) => {
                    DebugValue::Counter(a + b)
                }
                (Some(DebugValue::Gauge(a)), DebugValue::Gauge(b)) => DebugValue::Gauge(a + b),
                (Some(DebugValue::Histogram(mut a)), DebugValue::Histogram(b)) => {
                    a.extend(b);
                    DebugValue::Histogram(a)
                }
                _ => copy(&value),
            };
            self.total.insert(key.clone(), sum);
            self.last.insert(key, value);
        }
        self
    }

    /// Takes a snapshot (as [`take`](Self::take)) and returns it: what changed since the one
    /// before.
    #[allow(dead_code, reason = "some tests read only totals")]
    pub(crate) fn take_changes(&mut self) -> BTreeMap<String, DebugValue> {
        self.take();
        self.last
            .iter()
            .map(|(k, v)| (k.clone(), copy(v)))
            .collect()
    }

    /// Every metric, totalled over the snapshots taken.
    #[allow(dead_code, reason = "some tests read only single values")]
    pub(crate) fn total(&self) -> &BTreeMap<String, DebugValue> {
        &self.total
    }

    /// The total of the counter `key`.
    #[allow(dead_code, reason = "some tests compare whole snapshots")]
    pub(crate) fn counter(&self, key: &str) -> u64 {
        match self.total.get(key) {
            Some(DebugValue::Counter(n)) => *n,
            other => panic!("{key} is no counter ({other:?}) in {:#?}", self.total),
        }
    }

    /// Asserts the totals of the counters `expected` names, all in one comparison.
    #[allow(dead_code, reason = "some tests compare whole snapshots")]
    pub(crate) fn assert_counters<const N: usize>(&self, expected: [(&str, u64); N]) {
        let actual = expected.map(|(key, _)| (key, self.counter(key)));
        assert_eq!(actual, expected);
    }

    /// The total of the gauge `key`: its level, for a gauge moved by increments from zero.
    #[allow(dead_code, reason = "some tests compare whole snapshots")]
    pub(crate) fn gauge(&self, key: &str) -> f64 {
        match self.total.get(key) {
            Some(DebugValue::Gauge(v)) => v.into_inner(),
            other => panic!("{key} is no gauge ({other:?}) in {:#?}", self.total),
        }
    }

    /// The gauge `key` in the last snapshot: its level, for a gauge that is `set`.
    #[allow(dead_code, reason = "only the circuit breaker's state is a set gauge")]
    pub(crate) fn set_gauge(&self, key: &str) -> f64 {
        match self.last.get(key) {
            Some(DebugValue::Gauge(v)) => v.into_inner(),
            other => panic!(
                "{key} is no gauge ({other:?}) in the last snapshot {:#?}",
                self.last
            ),
        }
    }
}

/// `DebugValue` is not `Clone`.
fn copy(value: &DebugValue) -> DebugValue {
    match value {
        DebugValue::Counter(n) => DebugValue::Counter(*n),
        DebugValue::Gauge(v) => DebugValue::Gauge(*v),
        DebugValue::Histogram(values) => DebugValue::Histogram(values.clone()),
    }
}

/// Every metric the recorder holds, as `name{label=value,...}` (labels sorted) to its value.
fn snapshot(snapshotter: &Snapshotter) -> BTreeMap<String, DebugValue> {
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

/// The metrics `entries` name, as [`Recorded::total`] and [`Recorded::take_changes`] hold them.
#[allow(dead_code, reason = "some tests read single values")]
pub(crate) fn metrics<const N: usize>(
    entries: [(&str, DebugValue); N],
) -> BTreeMap<String, DebugValue> {
    entries
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

#[allow(dead_code, reason = "some tests read values as numbers")]
pub(crate) fn counter(n: u64) -> DebugValue {
    DebugValue::Counter(n)
}

#[allow(dead_code, reason = "some tests read values as numbers")]
pub(crate) fn gauge(value: f64) -> DebugValue {
    DebugValue::Gauge(value.into())
}

/// A histogram of durations, in seconds.
#[allow(dead_code, reason = "some components record no durations")]
pub(crate) fn seconds(durations: &[Duration]) -> DebugValue {
    DebugValue::Histogram(durations.iter().map(|d| d.as_secs_f64().into()).collect())
}
