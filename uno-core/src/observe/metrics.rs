//! Metric handles that cost nothing without the `metrics` feature.
//!
//! Each component registers its handles once, when it is built, and keeps them: a count is then
//! one call on the handle (an atomic add in the usual recorders), never a registry lookup on the
//! hot path.

#[cfg(feature = "metrics")]
use super::Name;

/// What a metric measures, for [`describe_metrics`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The unit of a metric, for [`describe_metrics`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Unit {
    /// A plain count (calls, items, transitions).
    Count,
    /// A duration, recorded in seconds.
    Seconds,
}

/// One metric a component reports: listed by its module in a `METRICS` table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Description {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) unit: Unit,
    pub(crate) help: &'static str,
}

/// Every component's table of metrics.
fn tables() -> [&'static [Description]; 6] {
    [
        crate::resilience::METRICS,
        crate::cache::METRICS,
        crate::batch::METRICS,
        crate::task::METRICS,
        crate::lifecycle::METRICS,
        crate::sync::METRICS,
    ]
}

/// Registers the description and unit of every metric uno-core reports with the installed
/// `metrics` recorder, for exporters that show them (Prometheus' `# HELP`). Without the `metrics`
/// feature it does nothing.
///
/// Call it once, after installing the recorder. The metrics themselves are listed in each
/// module's docs, under "Metrics".
///
/// # Examples
///
/// ```
/// // With a recorder installed (for example `metrics_exporter_prometheus`):
/// uno_core::observe::describe_metrics();
/// ```
pub fn describe_metrics() {
    for description in tables().into_iter().flatten() {
        describe(description);
    }
}

#[cfg(feature = "metrics")]
fn describe(d: &Description) {
    let unit = match d.unit {
        Unit::Count => metrics::Unit::Count,
        Unit::Seconds => metrics::Unit::Seconds,
    };
    match d.kind {
        Kind::Counter => metrics::describe_counter!(d.name, unit, d.help),
        Kind::Gauge => metrics::describe_gauge!(d.name, unit, d.help),
        Kind::Histogram => metrics::describe_histogram!(d.name, unit, d.help),
    }
}

#[cfg(not(feature = "metrics"))]
fn describe(_: &Description) {}

#[cfg(feature = "metrics")]
fn labels(name: &Name, extra: &[(&'static str, &'static str)]) -> Vec<metrics::Label> {
    let mut labels = Vec::with_capacity(extra.len() + 1);
    labels.push(metrics::Label::new("name", name.as_str().to_owned()));
    labels.extend(extra.iter().map(|&(k, v)| metrics::Label::new(k, v)));
    labels
}

/// Defines a handle type over one `metrics` handle: the struct (empty without the feature), a
/// `Default` that reports nothing, and `new`, which registers the metric at construction.
macro_rules! handle {
    ($(#[$doc:meta])* $ty:ident, $register:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub(crate) struct $ty {
            #[cfg(feature = "metrics")]
            inner: metrics::$ty,
        }

        impl Default for $ty {
            /// A handle that reports nothing.
            fn default() -> Self {
                $ty {
                    #[cfg(feature = "metrics")]
                    inner: metrics::$ty::noop(),
                }
            }
        }

        impl $ty {
            /// Registers `metric` for the component `name`, with `extra` labels beside `name`.
            #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
            pub(crate) fn new(
                metric: &'static str,
                name: &super::Name,
                extra: &[(&'static str, &'static str)],
            ) -> Self {
                $ty {
                    #[cfg(feature = "metrics")]
                    inner: metrics::$register!(metric, labels(name, extra)),
                }
            }
        }
    };
}

handle!(
    /// A monotonic count (`_total`).
    Counter,
    counter
);
handle!(
    /// A value that goes up and down (in flight, queued, state).
    Gauge,
    gauge
);
handle!(
    /// A distribution (batch sizes, durations in seconds).
    Histogram,
    histogram
);

/// Forwards `$method(value)` to the inner handle when the feature is on; nothing otherwise.
macro_rules! forward {
    ($($method:ident($arg:ident: $t:ty)),* $(,)?) => {
        $(
            #[inline]
            #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
            pub(crate) fn $method(&self, $arg: $t) {
                #[cfg(feature = "metrics")]
                self.inner.$method($arg);
            }
        )*
    };
}

impl Counter {
    forward!(increment(n: u64));
}

impl Gauge {
    forward!(set(value: f64), increment(value: f64), decrement(value: f64));
}

impl Histogram {
    forward!(record(value: f64));

    /// Records a duration, in seconds.
    #[inline]
    pub(crate) fn record_duration(&self, value: std::time::Duration) {
        self.record(value.as_secs_f64());
    }
}

#[cfg(test)]
mod naming_tests {
    use super::*;

    #[test]
    fn every_listed_metric_follows_the_naming_rule_once() {
        let mut seen = std::collections::HashSet::new();
        for d in tables().into_iter().flatten() {
            assert!(seen.insert(d.name), "{} is listed twice", d.name);
            assert!(
                d.name.starts_with("uno_"),
                "{} lacks the uno_ prefix",
                d.name
            );
            assert!(!d.help.is_empty(), "{} has no description", d.name);
            match (d.kind, d.unit) {
                (Kind::Counter, _) => assert!(d.name.ends_with("_total"), "{}", d.name),
                (Kind::Histogram, Unit::Seconds) => {
                    assert!(d.name.ends_with("_seconds"), "{}", d.name)
                }
                _ => assert!(
                    !d.name.ends_with("_total") && !d.name.ends_with("_seconds"),
                    "{}",
                    d.name
                ),
            }
        }
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;
    use crate::observe::Name;

    #[test]
    fn handles_registered_under_a_recorder_report_to_it_with_the_name_label() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let (counter, gauge, histogram) = metrics::with_local_recorder(&recorder, || {
            let name = Name::new("payments");
            (
                Counter::new("uno_test_calls_total", &name, &[("outcome", "ok")]),
                Gauge::new("uno_test_in_flight", &name, &[]),
                Histogram::new("uno_test_latency_seconds", &name, &[]),
            )
        });
        counter.increment(2);
        counter.increment(1);
        gauge.set(4.0);
        gauge.decrement(1.0);
        histogram.record_duration(std::time::Duration::from_millis(250));
        let mut seen: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key().clone();
                let labels: Vec<_> = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                (key.name().to_owned(), labels, value)
            })
            .collect();
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].0, "uno_test_calls_total");
        assert_eq!(seen[0].1, ["name=payments", "outcome=ok"]);
        assert_eq!(seen[0].2, DebugValue::Counter(3));
        assert_eq!(seen[1].0, "uno_test_in_flight");
        assert_eq!(seen[1].2, DebugValue::Gauge(3.0.into()));
        assert_eq!(seen[2].0, "uno_test_latency_seconds");
        assert_eq!(seen[2].2, DebugValue::Histogram(vec![0.25.into()]));
    }

    #[test]
    fn handles_built_without_a_recorder_report_nothing_and_cost_nothing() {
        let name = Name::kind("retry");
        Counter::new("uno_test_calls_total", &name, &[]).increment(1);
        Counter::default().increment(1);
        Histogram::default().record(1.0);
        Gauge::default().set(1.0);
    }
}
