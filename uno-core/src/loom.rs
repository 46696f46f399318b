//! The synchronisation primitives of the model-checked code, in one place (as tokio's `loom`
//! module): std's and atomic-waker's in a normal build, loom's under `--cfg uno_loom`, shuttle's
//! under `--cfg uno_shuttle`. The models are `tests/loom_*.rs`; `.ci/run` runs both builds.
//!
//! Only the code the models check imports from here: the semaphore, the task state, the
//! cancellation token tree, the rate limiter and the circuit breaker. The project cfgs (not plain
//! `cfg(loom)`) keep the dependencies (event-listener, async-lock, ...) on their std code.
//!
//! loom's `Arc` has no `Weak`, so the cancellation token tree keeps std's `Arc`/`Weak`: its
//! reference counts are not modelled, its lock and flag are.

#[cfg(all(uno_loom, uno_shuttle))]
compile_error!("`--cfg uno_loom` and `--cfg uno_shuttle` are two separate model builds");

#[cfg(not(any(uno_loom, uno_shuttle)))]
pub(crate) use atomic_waker::AtomicWaker;
#[cfg(not(any(uno_loom, uno_shuttle)))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard, atomic};

#[cfg(uno_loom)]
pub(crate) use ::loom::sync::{Arc, Mutex, MutexGuard, atomic};

#[cfg(uno_shuttle)]
pub(crate) use shuttle::sync::{Arc, Mutex, MutexGuard, atomic};

#[cfg(any(uno_loom, uno_shuttle))]
pub(crate) use model::AtomicWaker;

#[cfg(any(uno_loom, uno_shuttle))]
mod model {
    use std::fmt;
    use std::task::Waker;

    use super::Mutex;

    /// `atomic_waker::AtomicWaker`'s contract over the model's `Mutex`: a `wake` after a
    /// `register` wakes that waker; a `register` after a `wake` is not woken by it, so the caller
    /// must re-check its condition after registering (which is what the models check).
    ///
    /// Not `loom::future::AtomicWaker`: loom 0.7's prints every call (`dbg!`), and shuttle has
    /// none. atomic-waker's own lock-free implementation is not modelled here.
    #[derive(Default)]
    pub(crate) struct AtomicWaker {
        waker: Mutex<Option<Waker>>,
    }

    impl AtomicWaker {
        pub(crate) fn new() -> Self {
            Self::default()
        }

        pub(crate) fn register(&self, waker: &Waker) {
            let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
            if !slot.as_ref().is_some_and(|old| old.will_wake(waker)) {
                *slot = Some(waker.clone());
            }
        }

        pub(crate) fn wake(&self) {
            let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    impl fmt::Debug for AtomicWaker {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("AtomicWaker").finish_non_exhaustive()
        }
    }
}
