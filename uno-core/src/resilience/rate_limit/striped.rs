//! A counter that threads do not contend on: one cache-line-sized cell per stripe, each thread
//! adding to its own stripe, the total summed on read.
//!
//! An admission adds one to the counter of admissions. With one shared counter, two threads
//! admitting at once bounce its cache line between their cores on top of the arrival time's own;
//! with stripes the arrival time is the only shared write of an admission. The total is exact
//! (every add lands in some cell); a read racing with adds sees each add or not, as a single
//! atomic would.

use std::cell::Cell;

// The stripe hint is no part of any model: a plain std atomic (loom's are not `const`).
use std::sync::atomic::AtomicUsize;

use crate::loom::atomic::{AtomicU64, Ordering};

/// Stripes per counter: enough for the cores a limiter is commonly hit from.
const STRIPES: usize = 8;

/// One stripe, alone on its cache line (128 bytes: two lines, as adjacent-line prefetchers pair
/// them).
#[repr(align(128))]
struct Stripe(AtomicU64);

/// A striped counter (see the module notes).
pub(super) struct StripedCounter {
    stripes: [Stripe; STRIPES],
}

impl Default for StripedCounter {
    fn default() -> Self {
        StripedCounter {
            stripes: std::array::from_fn(|_| Stripe(AtomicU64::new(0))),
        }
    }
}

/// The next stripe to hand a thread that has none yet.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's stripe (`usize::MAX`: none yet), handed out round-robin.
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's stripe. A thread being torn down (its thread-locals gone) uses stripe 0.
#[inline]
fn stripe() -> usize {
    STRIPE
        .try_with(|stripe| {
            let mut index = stripe.get();
            if index == usize::MAX {
                index = NEXT_STRIPE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % STRIPES;
                stripe.set(index);
            }
            index
        })
        .unwrap_or(0)
}

impl StripedCounter {
    /// Adds one, on this thread's stripe.
    #[inline]
    pub(super) fn increment(&self) {
        self.stripes[stripe()].0.fetch_add(1, Ordering::Relaxed);
    }

    /// The total of every add so far.
    pub(super) fn sum(&self) -> u64 {
        self.stripes
            .iter()
            .fold(0u64, |sum, s| sum.wrapping_add(s.0.load(Ordering::Relaxed)))
    }
}

#[cfg(all(test, not(uno_loom), not(uno_shuttle)))]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn adds_from_many_threads_are_all_counted() {
        let counter = Arc::new(StripedCounter::default());
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        counter.increment();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.sum(), 120_000);
    }
}
