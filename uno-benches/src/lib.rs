//! Shared pieces of uno's benchmarks: a counting global allocator, so each benchmark can report
//! heap allocations per call on its happy path next to its timings.
//!
//! The benchmarks themselves live in `benches/`; `scripts/bench-report` runs them and prints the
//! uno/anchor ratios. Every benchmark function is registered through [`Group`], so the same routine
//! can also be run a fixed number of times under callgrind (see [`Group`]): instruction counts
//! repeat exactly on a noisy machine, where times do not.
//!
//! # Examples
//!
//! ```
//! use uno_benches::allocations_during;
//!
//! // Without the counting allocator installed (as here, in a doctest) nothing is counted.
//! let n = allocations_during(|| drop(Box::new(1)));
//! assert_eq!(n, 0);
//! ```

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![deny(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};

/// Allocations counted by [`CountingAllocator`] (only when a bench binary installs it).
pub static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// Heap bytes currently allocated through [`CountingAllocator`].
pub static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

/// How many heap bytes `f` left allocated (what it built and kept, minus what it freed).
pub fn bytes_retained_by<T>(f: impl FnOnce() -> T) -> (T, i64) {
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let value = f();
    (value, LIVE_BYTES.load(Ordering::Relaxed) - before)
}

/// How many heap allocations `f` performed, as seen by the installed counting allocator.
pub fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// Prints a line that `scripts/bench-report` collects: allocations per call of a benchmark.
///
/// Skipped in an instruction-count run (`UNO_IR` set), so that only the measured routine runs.
pub fn report_allocations(name: &str, calls: u64, f: impl FnOnce()) {
    if ir_target().is_some() {
        return;
    }
    let n = allocations_during(f);
    println!("ALLOC {name} {:.2}", n as f64 / calls as f64);
}

/// A global allocator that counts allocations into [`ALLOCATIONS`] and defers to the system's.
///
/// Install it in a bench binary with
/// `#[global_allocator] static ALLOC: uno_benches::CountingAllocator = uno_benches::CountingAllocator;`.
#[derive(Debug)]
pub struct CountingAllocator;

#[allow(
    unsafe_code,
    reason = "GlobalAlloc is an unsafe trait; every call is forwarded unchanged to System"
)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` through `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The benchmark function an instruction-count run measures (`UNO_IR=group/function`), if any.
fn ir_target() -> Option<String> {
    std::env::var("UNO_IR").ok().filter(|t| !t.is_empty())
}

/// A criterion benchmark group that can also run one of its routines a fixed number of times.
///
/// Written like criterion's own group (`Group::new(c, "name")` for `c.benchmark_group("name")`;
/// it derefs to [`BenchmarkGroup`] for `sample_size`, `throughput`, ...). Normally every function
/// is measured by criterion. With `UNO_IR=group/function` in the environment, no function is
/// measured: the one named runs its routine `UNO_IR_ITERS` times (default 1000) and prints
/// `IR_RAN group/function iters`: a tenth of them as warm-up, then the rest inside one function
/// that callgrind collects alone (`scripts/ir`; `scripts/bench-report --callgrind`). Run at two
/// iteration counts, the difference of the two totals over the difference of the counts is the
/// instruction count of one iteration, with every one-time cost cancelled.
pub struct Group<'a> {
    name: String,
    inner: BenchmarkGroup<'a, WallTime>,
}

impl<'a> Group<'a> {
    /// Opens the group `name` on `c`.
    pub fn new(c: &'a mut Criterion, name: &str) -> Self {
        Group {
            name: name.to_owned(),
            inner: c.benchmark_group(name),
        }
    }

    /// Registers the function `id`: `f` calls [`Bencher::iter`] (or `iter_custom`) once.
    pub fn bench_function(&mut self, id: &str, mut f: impl FnMut(&mut Bencher<'_, '_>)) {
        match ir_target() {
            Some(target) => {
                let full = format!("{}/{id}", self.name);
                if target == full {
                    let iters = std::env::var("UNO_IR_ITERS")
                        .ok()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1000);
                    f(&mut Bencher {
                        inner: None,
                        ir_iters: iters,
                    });
                    println!("IR_RAN {full} {iters}");
                }
            }
            None => {
                self.inner.bench_function(id, |b| {
                    f(&mut Bencher {
                        inner: Some(b),
                        ir_iters: 0,
                    })
                });
            }
        }
    }

    /// Closes the group (criterion prints its summary).
    pub fn finish(self) {
        self.inner.finish();
    }
}

impl std::fmt::Debug for Group<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Bencher<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bencher")
            .field("criterion", &self.inner.is_some())
            .field("ir_iters", &self.ir_iters)
            .finish()
    }
}

impl<'a> Deref for Group<'a> {
    type Target = BenchmarkGroup<'a, WallTime>;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl DerefMut for Group<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

/// The loop an instruction-count run measures: `scripts/ir` collects only inside this function
/// (`valgrind --tool=callgrind --toggle-collect=*ir_loop*`), on the calling thread.
#[inline(never)]
fn ir_loop(iters: u64, routine: &mut dyn FnMut()) {
    for _ in 0..iters {
        routine();
    }
}

/// What a [`Group`] function drives its routine with: criterion's bencher, or a fixed count.
pub struct Bencher<'a, 'b> {
    inner: Option<&'a mut criterion::Bencher<'b, WallTime>>,
    ir_iters: u64,
}

impl Bencher<'_, '_> {
    /// Times `routine` (criterion), or runs it the instruction-count run's number of times.
    pub fn iter<O>(&mut self, mut routine: impl FnMut() -> O) {
        match &mut self.inner {
            Some(b) => b.iter(routine),
            None => {
                // A tenth as warm-up (lazy initialisation, clock calibration, first allocations),
                // outside the measured loop, then the loop callgrind collects.
                for _ in 0..self.ir_iters / 10 {
                    black_box(routine());
                }
                ir_loop(self.ir_iters, &mut || {
                    black_box(routine());
                });
            }
        }
    }

    /// Like criterion's `iter_custom`: `routine(iters)` runs `iters` iterations and returns the
    /// time they took (ignored in an instruction-count run).
    pub fn iter_custom(&mut self, mut routine: impl FnMut(u64) -> Duration) {
        match &mut self.inner {
            Some(b) => b.iter_custom(routine),
            None => {
                black_box(routine(self.ir_iters / 10));
                ir_loop(1, &mut || {
                    black_box(routine(self.ir_iters));
                });
            }
        }
    }
}

/// The workspace README's examples, compiled and run as doctests so they never rot. They live in
/// this unpublished crate because the README is outside every published crate's package.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
