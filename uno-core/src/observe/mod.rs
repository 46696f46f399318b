//! What uno reports about itself: names, [`metrics`](https://docs.rs/metrics) and
//! [`tracing`](https://docs.rs/tracing).
//!
//! # Names
//!
//! Every policy, cache, batcher, group and manager has a name, given to its builder with
//! `.name("payments")` (default: its kind, such as `"circuit_breaker"`) and read back with
//! `name()`. The name appears in its errors, in the `name` label of its metrics and in the `name`
//! field of its `tracing` events and spans, so two breakers are told apart on a dashboard.
//!
//! # Metrics
//!
//! With the `metrics` feature, uno reports through the [`metrics`](https://docs.rs/metrics)
//! facade, which knows no executor: install any recorder (Prometheus, StatsD, OpenTelemetry, ...)
//! **before** building the components it should see, because each component registers its
//! handles once, when it is built (so a count costs one atomic add, never a registry lookup).
//! Components built with no recorder installed report nothing. Without the feature, the handles
//! are zero-sized and every count compiles to nothing.
//!
//! Every metric is named `uno_<component>_<what>`, counters end in `_total`, durations are
//! histograms in seconds, and every metric carries the component's `name` label.
//! [`describe_metrics`] registers the description and unit of each (call it once after
//! installing the recorder, for exporters that show them). The metrics of each component are
//! listed in its module's docs, under "Metrics":
//! [resilience](crate::resilience#metrics), [cache](crate::cache#metrics),
//! [batch](crate::batch#metrics), [task](crate::task#metrics),
//! [lifecycle](crate::lifecycle#metrics); uno-db-sqlx lists its own at its crate root.
//!
//! # Tracing
//!
//! With the `tracing` feature, uno emits `tracing` events and spans; their targets are the module
//! paths (`uno_core::resilience`, `uno_core::cache`, ...), so a filter such as
//! `uno_core::resilience=info` selects one area. Each module's docs list its events, their levels
//! and fields, under "Tracing": [resilience](crate::resilience#tracing),
//! [cache](crate::cache#tracing), [batch](crate::batch#tracing), [task](crate::task#tracing),
//! [sync](crate::sync#tracing), [lifecycle](crate::lifecycle#tracing). With the feature,
//! [`Runtime::spawn`](crate::Runtime::spawn) runs a task inside the caller's current span.

// Until every component reports through them, some handles and fields are unused in some builds.
#[allow(dead_code)]
mod metrics;
#[allow(dead_code)]
mod name;

pub use self::metrics::describe_metrics;
#[allow(unused_imports)] // used by the components that report metrics
pub(crate) use self::metrics::{Counter, Description, Gauge, Histogram, Kind, Unit};
#[allow(unused_imports)] // used by the components that report metrics
pub(crate) use self::name::Name;

// `trace!(level, target: .., ..)`-free helpers: `observe::event!(info, "uno_core::cache", ..)`
// expands to a `tracing` event with the feature and to nothing without it.
#[cfg(feature = "tracing")]
macro_rules! __uno_event {
    ($level:ident, $target:literal, $($arg:tt)*) => {
        ::tracing::$level!(target: $target, $($arg)*)
    };
}

#[cfg(not(feature = "tracing"))]
macro_rules! __uno_event {
    ($level:ident, $target:literal, $($arg:tt)*) => {};
}

#[allow(unused_imports)] // used by the components with `tracing` events
pub(crate) use __uno_event as event;
