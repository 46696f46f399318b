//! Shared pieces of uno's benchmarks: a counting global allocator, so each benchmark can report
//! heap allocations per call on its happy path next to its timings.
//!
//! The benchmarks themselves live in `benches/`; `scripts/bench-report` runs them and prints the
//! uno/anchor ratios.
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
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

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
pub fn report_allocations(name: &str, calls: u64, f: impl FnOnce()) {
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

/// The workspace README's examples, compiled and run as doctests so they never rot. They live in
/// this unpublished crate because the README is outside every published crate's package.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
