//! The sliding windows a circuit breaker computes its failure rate over.

use std::time::{Duration, Instant};

use super::state::LazyNow;

/// Buckets of a time-based window: the window slides in steps of `window / BUCKETS`.
pub(super) const BUCKETS: u32 = 10;

/// Outcomes of recent calls. Allocated once at build time; recording never allocates.
#[derive(Debug)]
pub(super) enum Window {
    /// The last `size` calls.
    Count {
        /// `true` marks a failure; a ring of `size` entries.
        outcomes: Vec<bool>,
        next: usize,
        len: usize,
        failures: u32,
    },
    /// The calls of the last `window` of time, in [`BUCKETS`] buckets.
    Time {
        buckets: Vec<Bucket>,
        bucket_len: Duration,
        origin: Option<Instant>,
    },
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Bucket {
    index: u64,
    calls: u32,
    failures: u32,
}

impl Window {
    pub(super) fn count(size: u32) -> Self {
        Window::Count {
            outcomes: vec![false; size as usize],
            next: 0,
            len: 0,
            failures: 0,
        }
    }

    pub(super) fn time(window: Duration) -> Self {
        Window::Time {
            buckets: vec![Bucket::default(); BUCKETS as usize],
            bucket_len: (window / BUCKETS).max(Duration::from_nanos(1)),
            origin: None,
        }
    }

    fn bucket_index(origin: Instant, bucket_len: Duration, now: Instant) -> u64 {
        let n = now.saturating_duration_since(origin).as_nanos() / bucket_len.as_nanos();
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// Records one outcome; only a time window reads the clock.
    pub(super) fn record(&mut self, failure: bool, now: &mut LazyNow<'_>) {
        match self {
            Window::Count {
                outcomes,
                next,
                len,
                failures,
            } => {
                if *len == outcomes.len() {
                    if outcomes[*next] {
                        *failures -= 1;
                    }
                } else {
                    *len += 1;
                }
                outcomes[*next] = failure;
                if failure {
                    *failures += 1;
                }
                // A wrap, not `%`: no division on every recorded call.
                *next += 1;
                if *next == outcomes.len() {
                    *next = 0;
                }
            }
            Window::Time {
                buckets,
                bucket_len,
                origin,
            } => {
                let now = now.get();
                let origin = *origin.get_or_insert(now);
                let index = Self::bucket_index(origin, *bucket_len, now);
                let bucket = &mut buckets[(index % u64::from(BUCKETS)) as usize];
                if bucket.index != index || bucket.calls == 0 {
                    *bucket = Bucket {
                        index,
                        calls: 0,
                        failures: 0,
                    };
                }
                bucket.calls = bucket.calls.saturating_add(1);
                if failure {
                    bucket.failures = bucket.failures.saturating_add(1);
                }
            }
        }
    }

    /// `(calls, failures)` in the window at `now` (read only by a time window).
    pub(super) fn totals(&self, now: &mut LazyNow<'_>) -> (u32, u32) {
        match self {
            Window::Count { len, failures, .. } => (*len as u32, *failures),
            Window::Time {
                buckets,
                bucket_len,
                origin,
            } => {
                let Some(origin) = *origin else { return (0, 0) };
                let current = Self::bucket_index(origin, *bucket_len, now.get());
                buckets
                    .iter()
                    .filter(|b| b.calls > 0 && current.saturating_sub(b.index) < u64::from(BUCKETS))
                    .fold((0u32, 0u32), |(c, f), b| {
                        (c.saturating_add(b.calls), f.saturating_add(b.failures))
                    })
            }
        }
    }

    pub(super) fn reset(&mut self) {
        match self {
            Window::Count {
                next,
                len,
                failures,
                ..
            } => {
                *next = 0;
                *len = 0;
                *failures = 0;
            }
            Window::Time {
                buckets, origin, ..
            } => {
                buckets.iter_mut().for_each(|b| *b = Bucket::default());
                *origin = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{Timer, VirtualClock};

    const SEC: Duration = Duration::from_secs(1);

    fn totals(w: &Window, at: Instant) -> (u32, u32) {
        w.totals(&mut LazyNow::at(at))
    }

    #[test]
    fn a_count_window_keeps_the_last_calls_in_a_ring() {
        let mut w = Window::count(3);
        // A count window never reads the clock.
        let now = &mut LazyNow::none();
        for failed in [true, true, false] {
            w.record(failed, now);
        }
        assert_eq!(w.totals(now), (3, 2));
        w.record(false, now);
        assert_eq!(w.totals(now), (3, 1), "the oldest failure left");
        w.record(false, now);
        w.record(false, now);
        assert_eq!(w.totals(now), (3, 0));
        w.reset();
        assert_eq!(w.totals(now), (0, 0));
        w.record(true, now);
        assert_eq!(w.totals(now), (1, 1), "fills up again from empty");
    }

    #[test]
    fn a_time_window_slides_in_tenths() {
        let t = VirtualClock::new().now();
        let mut w = Window::time(10 * SEC);
        assert_eq!(totals(&w, t), (0, 0), "no origin yet");
        w.record(true, &mut LazyNow::at(t));
        w.record(false, &mut LazyNow::at(t + SEC / 2));
        w.record(true, &mut LazyNow::at(t + 9 * SEC + SEC / 2));
        assert_eq!(totals(&w, t + 9 * SEC + SEC / 2), (3, 2));
        // At 10 s the first bucket (0 to 1 s) is ten buckets old: out.
        assert_eq!(totals(&w, t + 10 * SEC), (1, 1));
        assert_eq!(totals(&w, t + 19 * SEC), (0, 0));
    }

    #[test]
    fn a_reused_bucket_starts_from_zero() {
        let t = VirtualClock::new().now();
        let mut w = Window::time(10 * SEC);
        w.record(true, &mut LazyNow::at(t));
        // Bucket 10 shares bucket 0's slot in the ring.
        w.record(false, &mut LazyNow::at(t + 10 * SEC));
        assert_eq!(totals(&w, t + 10 * SEC), (1, 0));
        w.reset();
        assert_eq!(totals(&w, t + 10 * SEC), (0, 0));
        // After a reset the origin moves to the next call.
        w.record(true, &mut LazyNow::at(t + 100 * SEC));
        assert_eq!(totals(&w, t + 109 * SEC), (1, 1));
    }

    #[test]
    fn tiny_windows_and_readings_before_the_origin() {
        let t = VirtualClock::new().now() + SEC;
        let mut w = Window::time(Duration::from_nanos(3)); // buckets of at least 1 ns
        w.record(true, &mut LazyNow::at(t));
        assert_eq!(totals(&w, t + Duration::from_nanos(9)), (1, 1));
        assert_eq!(totals(&w, t + Duration::from_nanos(10)), (0, 0));
        // A reading from before the origin (another caller read the clock first) counts in the
        // origin's bucket.
        w.record(false, &mut LazyNow::at(t - SEC));
        assert_eq!(totals(&w, t), (2, 1));
    }
}
