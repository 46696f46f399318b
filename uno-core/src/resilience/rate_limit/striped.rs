//! A counter that threads do not contend on: one cache-line-sized cell per stripe, each thread
//! adding to its own stripe, the total summed on read.
//!
//! An admission adds one to the counter of admissions. With one shared counter, two threads
//! admitting at once bounce its cache line between their cores on top of the arrival time's own;
//! with stripes the arrival time is the only shared write of an admission. The first threads to
//! count anything (in the process) each get a stripe of their own, which only they ever write, so
//! their add is a plain load and store, not a locked read-modify-write: thread indices are never
//! reused, so such a stripe has one writer for the life of the process. Later threads add to
//! shared stripes. The total is exact (every add lands in some stripe); a read racing with adds
//! sees each add or not, as a single atomic would.

use std::cell::Cell;

// The stripe hint is no part of any model: a plain std atomic (loom's are not `const`).
use std::sync::atomic::AtomicUsize;

use crate::loom::atomic::{AtomicU64, Ordering};

/// Stripes each written by one thread only, for the first threads that count anything.
const OWNED: usize = 8;

/// Stripes shared by every later thread (read-modify-writes).
const SHARED: usize = 8;

/// One stripe, alone on its cache line (128 bytes: two lines, as adjacent-line prefetchers pair
/// them).
#[repr(align(128))]
struct Stripe(AtomicU64);

/// A striped counter (see the module notes).
pub(super) struct StripedCounter {
    stripes: [Stripe; OWNED + SHARED],
}

impl Default for StripedCounter {
    fn default() -> Self {
        StripedCounter {
            stripes: std::array::from_fn(|_| Stripe(AtomicU64::new(0))),
        }
    }
}

/// The next thread index to hand out; never reused, so an owned stripe has one writer forever.
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's index (`usize::MAX`: none yet).
    static THREAD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's index, handed out once per thread. A thread being torn down (its thread-locals
/// gone) counts as a later thread.
#[inline]
fn thread_index() -> usize {
    THREAD
        .try_with(|index| {
            let mut i = index.get();
            if i == usize::MAX {
                i = NEXT_THREAD.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                index.set(i);
            }
            i
        })
        .unwrap_or(usize::MAX - 1)
}

impl StripedCounter {
    /// Adds one, on this thread's stripe: a plain load and store on a stripe this thread alone
    /// writes (the first [`OWNED`] threads), a `fetch_add` on a shared one otherwise.
    #[inline]
    pub(super) fn increment(&self) {
        let index = thread_index();
        // Under the model checkers every modelled thread may share one OS thread (and so one
        // index): always a read-modify-write there.
        if index < OWNED && !cfg!(any(uno_loom, uno_shuttle)) {
            let stripe = &self.stripes[index].0;
            stripe.store(stripe.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        } else {
            self.stripes[OWNED + index % SHARED]
                .0
                .fetch_add(1, Ordering::Relaxed);
        }
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
