//! The cases, one module per concept. Each case is `pub async fn name(env: Env)` and panics (through
//! `assert!`) when the backend misbehaves. A time a case measures goes through one helper,
//! `assert_duration`: exact on virtual time, within the case's generous bounds on real clocks.
//!
//! Each module keeps its own list of cases in a `__uno_cases_<module>!` macro at its top, next to
//! the cases themselves; the two tiers string the lists together:
//!
//! - **the seam tier** (`__uno_seam_cases!`): `seam`, `task`, `time`, `timeout` and
//!   `misbehaving_task` — only the runtime seam: spawning, the task handle and its drop policy,
//!   sleeps and deadlines, timeouts, the blocking pool. What an outside adapter must pass first;
//!   [`seam_suite!`](crate::seam_suite) runs it alone.
//! - **the stack tier** (`__uno_stack_cases!`): everything uno builds on the seam — primitives,
//!   cancellation, groups, the task and lifecycle managers, resilience policies, the cache, the
//!   batcher, and the other `misbehaving_*` modules. [`stack_suite!`](crate::stack_suite) runs it
//!   alone.
//!
//! [`suite!`](crate::suite) runs both tiers.
//!
//! The `misbehaving_*` modules (files under `misbehaving/`) are one section: user code that panics
//! in a future, in its `Drop` (at every await point) or in a callback, and `Drop` impls that block
//! briefly. Each case asserts that nothing hangs, nothing leaks and the panic comes back as a value
//! where a result exists.

// The seam tier.
#[path = "misbehaving/task.rs"]
pub mod misbehaving_task;
pub mod seam;
pub mod task;
pub mod time;
pub mod timeout;

// The stack tier.
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
pub mod pipeline;
pub mod rate_limit;
pub mod retry;
pub mod rwlock;
pub mod semaphore;
pub mod shield;
pub mod tower_limits;

/// The whole test list, both tiers: `$cb` is called once per module with `$be; module: case, …`.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_all_cases {
    ($cb:ident, $be:tt) => {
        $crate::__uno_seam_cases!($cb, $be);
        $crate::__uno_stack_cases!($cb, $be);
    };
}

/// The seam tier: the cases that test only the runtime seam, what every adapter must pass.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_seam_cases {
    ($cb:ident, $be:tt) => {
        $crate::__uno_cases_seam!($cb, $be);
        $crate::__uno_cases_task!($cb, $be);
        $crate::__uno_cases_time!($cb, $be);
        $crate::__uno_cases_timeout!($cb, $be);
        // Misbehaving user code around the seam: panics in a task's future and in its `Drop`.
        $crate::__uno_cases_misbehaving_task!($cb, $be);
    };
}

/// The stack tier: the cases of everything uno builds on the seam.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_stack_cases {
    ($cb:ident, $be:tt) => {
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
        $crate::__uno_cases_tower_limits!($cb, $be);
        // Misbehaving user code: panics in futures, in `Drop` and in every callback.
        $crate::__uno_cases_misbehaving_group!($cb, $be);
        $crate::__uno_cases_misbehaving_resilience!($cb, $be);
        $crate::__uno_cases_misbehaving_cache!($cb, $be);
        $crate::__uno_cases_misbehaving_batch!($cb, $be);
        $crate::__uno_cases_misbehaving_lifecycle!($cb, $be);
    };
}
