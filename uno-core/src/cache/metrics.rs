//! The cache's metric handles, registered once when it is built (see [`crate::observe`]), and
//! the table that describes them ([`METRICS`]).

use crate::observe::{Counter, Description, Gauge, Histogram, Kind, Name, Unit};

const HITS: &str = "uno_cache_hits_total";
const MISSES: &str = "uno_cache_misses_total";
const LOADS: &str = "uno_cache_loads_total";
const LOAD_DURATION: &str = "uno_cache_load_duration_seconds";
const REFRESHES: &str = "uno_cache_refreshes_total";
const EVICTIONS: &str = "uno_cache_evictions_total";
const INVALIDATIONS: &str = "uno_cache_invalidations_total";
const ENTRIES: &str = "uno_cache_entries";

/// Every metric a cache reports; the module docs' "Metrics" table says the same.
pub(crate) const METRICS: &[Description] = &[
    Description {
        name: HITS,
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Cache reads answered from the cache.",
    },
    Description {
        name: MISSES,
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Cache reads that waited for a load (their own or a shared one).",
    },
    Description {
        name: LOADS,
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Cache loads finished, by outcome (ok, error).",
    },
    Description {
        name: LOAD_DURATION,
        kind: Kind::Histogram,
        unit: Unit::Seconds,
        help: "How long cache loads took, from the miss that started them to their outcome.",
    },
    Description {
        name: REFRESHES,
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Background cache refreshes finished, by outcome (ok, error).",
    },
    Description {
        name: EVICTIONS,
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Cache entries removed to make room under the capacity bound.",
    },
    Description {
        name: INVALIDATIONS,
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Cache entries removed by invalidate or clear.",
    },
    Description {
        name: ENTRIES,
        kind: Kind::Gauge,
        unit: Unit::Count,
        help: "Entries the cache holds, expired ones not yet removed included.",
    },
];

/// The handles one cache counts with (zero-sized without the `metrics` feature).
#[derive(Debug)]
pub(super) struct CacheMetrics {
    pub(super) hits: Counter,
    pub(super) misses: Counter,
    pub(super) loads_ok: Counter,
    pub(super) loads_failed: Counter,
    pub(super) load_duration: Histogram,
    pub(super) refreshes_ok: Counter,
    pub(super) refreshes_failed: Counter,
    pub(super) evictions: Counter,
    pub(super) invalidations: Counter,
    pub(super) entries: Gauge,
}

impl CacheMetrics {
    pub(super) fn new(name: &Name) -> Self {
        CacheMetrics {
            hits: Counter::new(HITS, name, &[]),
            misses: Counter::new(MISSES, name, &[]),
            loads_ok: Counter::new(LOADS, name, &[("outcome", "ok")]),
            loads_failed: Counter::new(LOADS, name, &[("outcome", "error")]),
            load_duration: Histogram::new(LOAD_DURATION, name, &[]),
            refreshes_ok: Counter::new(REFRESHES, name, &[("outcome", "ok")]),
            refreshes_failed: Counter::new(REFRESHES, name, &[("outcome", "error")]),
            evictions: Counter::new(EVICTIONS, name, &[]),
            invalidations: Counter::new(INVALIDATIONS, name, &[]),
            entries: Gauge::new(ENTRIES, name, &[]),
        }
    }

    /// Moves the entries gauge from `before` to `after` entries (of one shard).
    pub(super) fn entries_changed(&self, before: usize, after: usize) {
        if after > before {
            self.entries.increment((after - before) as f64);
        } else if before > after {
            self.entries.decrement((before - after) as f64);
        }
    }
}
