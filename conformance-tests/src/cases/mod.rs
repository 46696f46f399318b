//! The cases, one module per concept. Each case is `pub async fn name(env: Env)` and panics (through
//! `assert!`) when the backend misbehaves.
//!
//! Each module keeps its own list of cases in a `__uno_cases_<module>!` macro at its top, next to
//! the cases themselves; [`__uno_all_cases!`](crate::__uno_all_cases) strings the lists together.
//!
//! The `misbehaving_*` modules (files under `misbehaving/`) are one section: user code that panics
//! in a future, in its `Drop` (at every await point) or in a callback, and `Drop` impls that block
//! briefly. Each case asserts that nothing hangs, nothing leaks and the panic comes back as a value
//! where a result exists.

pub mod batch;
pub mod bulkhead;
pub mod cache;
pub mod cancel;
pub mod circuit_breaker;
pub mod event;
pub mod group;
pub mod lifecycle;
pub mod lock;
pub mod manager;
#[path = "misbehaving/batch.rs"]
pub mod misbehaving_batch;
#[path = "misbehaving/cache.rs"]
pub mod misbehaving_cache;
#[path = "misbehaving/group.rs"]
pub mod misbehaving_group;
#[path = "misbehaving/lifecycle.rs"]
pub mod misbehaving_lifecycle;
#[path = "misbehaving/resilience.rs"]
pub mod misbehaving_resilience;
#[path = "misbehaving/task.rs"]
pub mod misbehaving_task;
pub mod pipeline;
pub mod rate_limit;
pub mod retry;
pub mod rwlock;
pub mod seam;
pub mod semaphore;
pub mod shield;
pub mod task;
pub mod time;
pub mod timeout;

/// The single test list: `$cb` is called once per module with `$be; module: case, case, …`.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_all_cases {
    ($cb:ident, $be:tt) => {
        $crate::__uno_cases_seam!($cb, $be);
        $crate::__uno_cases_task!($cb, $be);
        $crate::__uno_cases_time!($cb, $be);
        $crate::__uno_cases_timeout!($cb, $be);
        $crate::__uno_cases_lock!($cb, $be);
        $crate::__uno_cases_rwlock!($cb, $be);
        $crate::__uno_cases_semaphore!($cb, $be);
        $crate::__uno_cases_event!($cb, $be);
        $crate::__uno_cases_cancel!($cb, $be);
        $crate::__uno_cases_batch!($cb, $be);
        $crate::__uno_cases_cache!($cb, $be);
        $crate::__uno_cases_group!($cb, $be);
        $crate::__uno_cases_shield!($cb, $be);
        $crate::__uno_cases_manager!($cb, $be);
        $crate::__uno_cases_lifecycle!($cb, $be);
        $crate::__uno_cases_retry!($cb, $be);
        $crate::__uno_cases_rate_limit!($cb, $be);
        $crate::__uno_cases_bulkhead!($cb, $be);
        $crate::__uno_cases_circuit_breaker!($cb, $be);
        $crate::__uno_cases_pipeline!($cb, $be);
        // Misbehaving user code: panics in futures, in `Drop` and in every callback.
        $crate::__uno_cases_misbehaving_task!($cb, $be);
        $crate::__uno_cases_misbehaving_group!($cb, $be);
        $crate::__uno_cases_misbehaving_resilience!($cb, $be);
        $crate::__uno_cases_misbehaving_cache!($cb, $be);
        $crate::__uno_cases_misbehaving_batch!($cb, $be);
        $crate::__uno_cases_misbehaving_lifecycle!($cb, $be);
    };
}
