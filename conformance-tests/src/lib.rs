//! uno's conformance suite: one behavioural test list, written once against `uno-core`'s public API
//! and its runtime seam, run on every backend.
//!
//! An adapter author implements [`Backend`] — how to run a future on their executor and which
//! [`Runtime`] handle to give the tests — and expands [`suite!`] once in a test file. Every case
//! then becomes a `#[test]`, with the same names on every backend.
//!
//! The suite has two tiers, and every backend of uno runs both:
//!
//! - **the seam tier**, [`seam_suite!`]: spawning, the task handle and its drop policy (a dropped
//!   handle cancels, a panic is a value), sleeps and deadlines, timeouts and the blocking pool —
//!   only what a backend implements itself. An adapter for a new executor passes this tier first.
//! - **the stack tier**, [`stack_suite!`]: everything uno builds on that seam — primitives,
//!   cancellation, task groups, managers, resilience policies, the cache, the batcher and the
//!   lifecycle, with user code that panics or blocks. It reaches the executor only through the
//!   seam, so a backend that passes the seam tier is expected to pass it too; a stack case that
//!   fails where the seam tier passed points at a seam case still missing.
//!
//! [`suite!`] runs both tiers.
//!
//! ```
//! use std::future::Future;
//! use conformance_tests::{Backend, Env};
//! use uno_core::rt::VirtualRuntime;
//!
//! /// The deterministic runtime of uno-core, as a backend (this crate ships it as `VirtualBackend`).
//! struct MyBackend;
//!
//! impl Backend for MyBackend {
//!     const NAME: &'static str = "my-backend";
//!
//!     fn block_on<F, Fut>(test: F)
//!     where
//!         F: FnOnce(Env) -> Fut,
//!         Fut: Future<Output = ()>,
//!     {
//!         let vrt = VirtualRuntime::new();
//!         let env = Env::new(Self::NAME, vrt.handle())
//!             .with_local_spawner(vrt.local_spawner())
//!             .with_virtual_time();
//!         vrt.block_on(test(env));
//!     }
//! }
//!
//! // In `tests/conformance.rs`, the whole suite:
//! conformance_tests::suite!(MyBackend);
//!
//! // Or one tier: the seam tier alone while the adapter is young, the stack tier once it passes.
//! // (Each in a module of its own here, because this file already expands the whole suite.)
//! mod seam_tier {
//!     conformance_tests::seam_suite!(super::MyBackend);
//! }
//! mod stack_tier {
//!     conformance_tests::stack_suite!(super::MyBackend);
//! }
//! # fn main() {}
//! ```
//!
//! Cases that cannot apply to a backend (for example, `!Send` spawning on a backend without a
//! [`LocalSpawner`]) say so on stderr and why, and pass; everything else runs everywhere. Cases that
//! depend on time use generous bounds on real clocks and exact values on virtual ones.
//!
//! A watchdog aborts the test process if one case runs for more than two minutes of real time, so a
//! deadlock shows up as a named failure instead of a hung CI job.

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]

pub mod cases;
pub mod signal;
mod support;

use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use uno_core::rt::{LocalSpawner, Runtime, VirtualRuntime};

pub use support::{assert_send_sync, poll_times};

/// How a backend runs one test case.
pub trait Backend {
    /// A short name for messages, such as `"tokio-multi-thread"`.
    const NAME: &'static str;

    /// Builds the executor, builds an [`Env`] for it (inside the executor's context, if it needs
    /// one) and runs `test(env)` to completion on the current thread.
    fn block_on<F, Fut>(test: F)
    where
        F: FnOnce(Env) -> Fut,
        Fut: Future<Output = ()>;
}

/// What a case gets from the backend: the [`Runtime`] under test and what else the backend offers.
#[derive(Clone)]
pub struct Env {
    name: &'static str,
    rt: Runtime,
    local: Option<Rc<dyn LocalSpawner>>,
    virtual_time: bool,
}

impl Env {
    /// An environment for `rt`, on a real clock, without a local spawner.
    pub fn new(backend: &'static str, rt: Runtime) -> Self {
        Env {
            name: backend,
            rt,
            local: None,
            virtual_time: false,
        }
    }

    /// Offers a spawner for `!Send` futures to the cases that test it.
    pub fn with_local_spawner(mut self, local: impl LocalSpawner) -> Self {
        self.local = Some(Rc::new(local));
        self
    }

    /// Declares that the runtime's clock is virtual, so cases may assert exact durations.
    pub fn with_virtual_time(mut self) -> Self {
        self.virtual_time = true;
        self
    }

    /// The runtime under test.
    pub fn rt(&self) -> &Runtime {
        &self.rt
    }

    /// The backend's local spawner, if it has one.
    pub fn local_spawner(&self) -> Option<&dyn LocalSpawner> {
        self.local.as_deref()
    }

    /// Whether time is virtual (exact) rather than real (only bounded).
    pub fn is_virtual_time(&self) -> bool {
        self.virtual_time
    }

    /// The backend's name.
    pub fn backend(&self) -> &'static str {
        self.name
    }

    /// Reports on stderr that a case does not apply to this backend, and why.
    pub fn skip(&self, case: &str, why: &str) {
        eprintln!("SKIPPED on {}: {case}: {why}", self.name);
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("backend", &self.name)
            .field("local_spawner", &self.local.is_some())
            .field("virtual_time", &self.virtual_time)
            .finish()
    }
}

/// uno-core's [`VirtualRuntime`] as a backend: deterministic, virtual time, with a local spawner.
#[derive(Debug)]
pub struct VirtualBackend;

impl Backend for VirtualBackend {
    const NAME: &'static str = "virtual-time";

    fn block_on<F, Fut>(test: F)
    where
        F: FnOnce(Env) -> Fut,
        Fut: Future<Output = ()>,
    {
        let vrt = VirtualRuntime::new();
        let env = Env::new(Self::NAME, vrt.handle())
            .with_local_spawner(vrt.local_spawner())
            .with_virtual_time();
        vrt.block_on(test(env));
    }
}

/// Real time a single case may take before the watchdog aborts the process.
const WATCHDOG: Duration = Duration::from_secs(120);

/// Runs one case on backend `B` under the watchdog. Called by the tests [`suite!`],
/// [`seam_suite!`] and [`stack_suite!`] generate.
pub fn run_case<B, F, Fut>(name: &str, case: F)
where
    B: Backend,
    F: FnOnce(Env) -> Fut,
    Fut: Future<Output = ()>,
{
    let (done, watch) = mpsc::channel::<()>();
    let label = format!("{} on {}", name, B::NAME);
    let watchdog = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(WATCHDOG) {
            eprintln!("conformance case `{label}` is still running after {WATCHDOG:?}: aborting");
            std::process::abort();
        }
    });
    B::block_on(case);
    drop(done);
    let _ = watchdog.join();
}

/// Every case name, `module::case`, in suite order: the list each backend runs.
#[allow(
    clippy::vec_init_then_push,
    reason = "the pushes come from one macro call per case module"
)]
pub fn case_names() -> Vec<&'static str> {
    let mut names = Vec::new();
    __uno_all_cases!(__uno_case_names, names);
    names
}

#[doc(hidden)]
#[macro_export]
macro_rules! __uno_case_names {
    ($names:tt; $module:ident: $($case:ident),* $(,)?) => {
        $( $names.push(concat!(stringify!($module), "::", stringify!($case))); )*
    };
}

/// Expands to one `#[test]` per conformance case, both tiers, run on the given [`Backend`].
///
/// Expand it once per backend, each in its own module when a file holds several:
///
/// ```text
/// mod current_thread { conformance_tests::suite!(super::TokioCurrentThread); }
/// ```
///
/// The tests are named `module::case` (`timeout::expiry_gives_elapsed_with_message`, say), so
/// `cargo test timeout::` runs one module. Expanding [`seam_suite!`] and [`stack_suite!`] in two
/// modules runs the same cases. Each case module becomes a module where the macro is expanded
/// (`seam`, `task`, `timeout`, …), so a module of yours beside it needs another name
/// (`seam_tier`, say).
#[macro_export]
macro_rules! suite {
    ($backend:ty) => {
        $crate::__uno_suite!($backend, __uno_all_cases);
    };
}

/// Expands to one `#[test]` per case of the seam tier, run on the given [`Backend`]: spawning, the
/// task handle and its drop policy, sleeps, deadlines, timeouts and the blocking pool.
///
/// The tier an adapter for a new executor must pass first; [`suite!`] runs it together with the
/// stack tier. Expand it in its own module when the file expands another tier or another backend:
///
/// ```text
/// mod seam_tier { conformance_tests::seam_suite!(super::MyBackend); }
/// ```
#[macro_export]
macro_rules! seam_suite {
    ($backend:ty) => {
        $crate::__uno_suite!($backend, __uno_seam_cases);
    };
}

/// Expands to one `#[test]` per case of the stack tier, run on the given [`Backend`]: everything
/// uno builds on the runtime seam (primitives, groups, managers, resilience, cache, batcher,
/// lifecycle, and the misbehaving user code around them).
///
/// [`suite!`] runs it together with the seam tier. Expand it in its own module when the file
/// expands another tier or another backend:
///
/// ```text
/// mod stack_tier { conformance_tests::stack_suite!(super::MyBackend); }
/// ```
#[macro_export]
macro_rules! stack_suite {
    ($backend:ty) => {
        $crate::__uno_suite!($backend, __uno_stack_cases);
    };
}

/// One `#[test]` per case of `$cases` (`__uno_all_cases`, `__uno_seam_cases` or
/// `__uno_stack_cases`), each run on `$backend`.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_suite {
    ($backend:ty, $cases:ident) => {
        #[allow(dead_code)]
        type __UnoConformanceBackend = $backend;
        $crate::$cases!(__uno_emit_cases, __UnoConformanceBackend);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __uno_emit_cases {
    ($be:tt; $module:ident: $($case:ident),* $(,)?) => {
        mod $module {
            $(
                #[test]
                fn $case() {
                    $crate::run_case::<super::__UnoConformanceBackend, _, _>(
                        concat!(stringify!($module), "::", stringify!($case)),
                        $crate::cases::$module::$case,
                    );
                }
            )*
        }
    };
}
