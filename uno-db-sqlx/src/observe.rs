//! What a [`Database`](crate::Database) reports about itself: its counters ([`DbStats`]), its
//! `metrics` handles (feature `metrics`) and its `tracing` events (feature `tracing`), all
//! recorded through [`Observer`], so one call site counts a thing once for all three.
//!
//! The metric handles are registered once, when the database is opened, and kept: a count is one
//! call on a handle, never a registry lookup. Without the `metrics` feature they are zero-sized
//! and every count compiles to nothing (as uno-core's crate-private `observe::metrics`).
//!
//! [`DbStats`]: crate::DbStats

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::stats::Counters;

/// The name of a database that was not given one.
pub(crate) const DEFAULT_NAME: &str = "database";

/// The `tracing` target of every event of this crate.
#[allow(dead_code)] // used by `event!` with the `tracing` feature
pub(crate) const TARGET: &str = "uno_db_sqlx";

/// `event!(debug, name = %n, "what")`: a `tracing` event with the `tracing` feature, nothing
/// without it.
#[cfg(feature = "tracing")]
macro_rules! event {
    ($level:ident, $($arg:tt)*) => {
        ::tracing::$level!(target: "uno_db_sqlx", $($arg)*)
    };
}

#[cfg(not(feature = "tracing"))]
macro_rules! event {
    ($level:ident, $($arg:tt)*) => {
        ()
    };
}
pub(crate) use event;

/// What a statement was, for the `kind` label and field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatementKind {
    /// [`Query`](crate::Query) run for its row count.
    Execute,
    /// [`Query`](crate::Query) run for its rows.
    Fetch,
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`: the crate's own transaction control.
    Control,
    /// sqlx's own API on a lent connection (`with_connection`): one call, however many
    /// statements it sends.
    Sqlx,
}

impl StatementKind {
    const ALL: [StatementKind; 4] = [
        StatementKind::Execute,
        StatementKind::Fetch,
        StatementKind::Control,
        StatementKind::Sqlx,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StatementKind::Execute => "execute",
            StatementKind::Fetch => "fetch",
            StatementKind::Control => "control",
            StatementKind::Sqlx => "sqlx",
        }
    }
}

/// Something counted in [`DbStats`](crate::DbStats) and reported as a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stat {
    Committed,
    RolledBack,
    OutcomeUnknown,
    ClosedInDoubt,
    Recycled,
    Retry,
    Timeout,
}

/// A `metrics` handle of one kind, or nothing without the feature.
macro_rules! handle {
    ($name:ident, $inner:ty, $register:ident) => {
        #[derive(Clone, Debug)]
        pub(crate) struct $name {
            #[cfg(feature = "metrics")]
            inner: $inner,
        }

        impl $name {
            #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
            fn new(
                metric: &'static str,
                name: &Arc<str>,
                extra: &[(&'static str, &'static str)],
            ) -> Self {
                $name {
                    #[cfg(feature = "metrics")]
                    inner: metrics::$register!(metric, labels(name, extra)),
                }
            }
        }
    };
}

handle!(Counter, metrics::Counter, counter);
handle!(Gauge, metrics::Gauge, gauge);
handle!(Histogram, metrics::Histogram, histogram);

#[cfg(feature = "metrics")]
fn labels(name: &Arc<str>, extra: &[(&'static str, &'static str)]) -> Vec<metrics::Label> {
    let mut labels = Vec::with_capacity(extra.len() + 1);
    labels.push(metrics::Label::new("name", name.to_string()));
    labels.extend(extra.iter().map(|&(k, v)| metrics::Label::new(k, v)));
    labels
}

impl Counter {
    #[inline]
    fn increment(&self) {
        #[cfg(feature = "metrics")]
        self.inner.increment(1);
    }
}

impl Gauge {
    #[inline]
    fn add(&self, delta: f64) {
        #[cfg(feature = "metrics")]
        self.inner.increment(delta);
        #[cfg(not(feature = "metrics"))]
        let _ = delta;
    }
}

impl Histogram {
    #[inline]
    fn record(&self, d: Duration) {
        #[cfg(feature = "metrics")]
        self.inner.record(d.as_secs_f64());
        #[cfg(not(feature = "metrics"))]
        let _ = d;
    }
}

/// Every metric the crate reports (name, kind, labels): the table of the crate docs' "Metrics"
/// section, which a test holds to it.
#[cfg(test)]
const METRICS: &[(&str, &str, &str)] = &[
    ("uno_db_sessions_opened_total", "counter", "name"),
    ("uno_db_sessions_active", "gauge", "name"),
    ("uno_db_statements_total", "counter", "name, kind"),
    (
        "uno_db_statement_duration_seconds",
        "histogram",
        "name, kind",
    ),
    ("uno_db_statement_timeouts_total", "counter", "name"),
    ("uno_db_transactions_total", "counter", "name, outcome"),
    ("uno_db_transaction_retries_total", "counter", "name"),
    (
        "uno_db_connections_in_doubt_total",
        "counter",
        "name, outcome",
    ),
];

/// The metric handles of one database, registered when it is opened.
#[derive(Debug)]
struct Metrics {
    sessions_opened: Counter,
    sessions_active: Gauge,
    statements: [Counter; 4],
    durations: [Histogram; 4],
    timeouts: Counter,
    committed: Counter,
    rolled_back: Counter,
    outcome_unknown: Counter,
    retries: Counter,
    recycled: Counter,
    closed_in_doubt: Counter,
}

impl Metrics {
    fn new(name: &Arc<str>) -> Self {
        let kind = |k: StatementKind| [("kind", k.as_str())];
        let outcome = |o: &'static str| [("outcome", o)];
        Metrics {
            sessions_opened: Counter::new("uno_db_sessions_opened_total", name, &[]),
            sessions_active: Gauge::new("uno_db_sessions_active", name, &[]),
            statements: StatementKind::ALL
                .map(|k| Counter::new("uno_db_statements_total", name, &kind(k))),
            durations: StatementKind::ALL
                .map(|k| Histogram::new("uno_db_statement_duration_seconds", name, &kind(k))),
            timeouts: Counter::new("uno_db_statement_timeouts_total", name, &[]),
            committed: Counter::new("uno_db_transactions_total", name, &outcome("committed")),
            rolled_back: Counter::new("uno_db_transactions_total", name, &outcome("rolled_back")),
            outcome_unknown: Counter::new(
                "uno_db_transactions_total",
                name,
                &outcome("outcome_unknown"),
            ),
            retries: Counter::new("uno_db_transaction_retries_total", name, &[]),
            recycled: Counter::new(
                "uno_db_connections_in_doubt_total",
                name,
                &outcome("recycled"),
            ),
            closed_in_doubt: Counter::new(
                "uno_db_connections_in_doubt_total",
                name,
                &outcome("closed"),
            ),
        }
    }
}

/// A database's name, counters and metric handles, shared by its sessions.
#[derive(Debug)]
pub(crate) struct Observer {
    name: Arc<str>,
    counters: Arc<Counters>,
    metrics: Metrics,
}

impl Observer {
    /// Registers the database's metric handles with the current `metrics` recorder.
    pub(crate) fn new(name: Arc<str>) -> Self {
        Observer {
            metrics: Metrics::new(&name),
            name,
            counters: Arc::new(Counters::default()),
        }
    }

    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The database-wide counters ([`Database::stats`](crate::Database::stats)).
    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Counts `stat` in `counters` (the database's, and a group's) and in its metric.
    pub(crate) fn record(&self, stat: Stat, counters: &[Arc<Counters>]) {
        for c in counters {
            c.get(stat).fetch_add(1, Ordering::Relaxed);
        }
        let m = &self.metrics;
        match stat {
            Stat::Committed => m.committed.increment(),
            Stat::RolledBack => m.rolled_back.increment(),
            Stat::OutcomeUnknown => m.outcome_unknown.increment(),
            Stat::ClosedInDoubt => m.closed_in_doubt.increment(),
            Stat::Recycled => m.recycled.increment(),
            Stat::Retry => m.retries.increment(),
            Stat::Timeout => m.timeouts.increment(),
        }
    }

    /// A statement was sent.
    pub(crate) fn statement_sent(&self, kind: StatementKind) {
        self.metrics.statements[kind as usize].increment();
    }

    /// A statement completed (with a result, a success or the database's error) in `d`.
    pub(crate) fn statement_done(&self, kind: StatementKind, d: Duration) {
        self.metrics.durations[kind as usize].record(d);
    }

    pub(crate) fn session_opened(&self) {
        self.metrics.sessions_opened.increment();
        self.metrics.sessions_active.add(1.0);
    }

    pub(crate) fn session_dropped(&self) {
        self.metrics.sessions_active.add(-1.0);
    }
}

/// At most [`SQL_CHARS`] characters of a statement's SQL, for errors and `tracing` fields: never
/// its bound values (they are not in the text), and never the whole of a long statement.
pub(crate) fn short_sql(sql: &str) -> std::borrow::Cow<'_, str> {
    let sql = sql.trim();
    match sql.char_indices().nth(SQL_CHARS) {
        Some((cut, _)) => format!("{}…", &sql[..cut]).into(),
        None => sql.into(),
    }
}

/// See [`short_sql`].
pub(crate) const SQL_CHARS: usize = 60;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crate_docs_list_every_metric() {
        let docs = include_str!("lib.rs");
        for (metric, kind, labels) in METRICS {
            let labels: Vec<_> = labels.split(", ").map(|l| format!("`{l}`")).collect();
            let row = format!("//! | `{metric}` | {kind} | {} |", labels.join(", "));
            assert!(docs.contains(&row), "no row {row:?} in the crate docs");
        }
        assert_eq!(docs.matches("//! | `uno_db_").count(), METRICS.len());
    }

    #[test]
    fn long_sql_is_cut_at_a_character_boundary() {
        assert_eq!(short_sql("  SELECT 1 "), "SELECT 1");
        let long = "é".repeat(100);
        let short = short_sql(&long);
        assert_eq!(short.chars().count(), SQL_CHARS + 1);
        assert!(short.ends_with('…'));
    }
}
