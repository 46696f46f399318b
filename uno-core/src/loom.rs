//! The synchronisation primitives of the model-checked code, in one place (as tokio's `loom`
//! module): std's and atomic-waker's in a normal build, loom's under `--cfg uno_loom`, shuttle's
//! under `--cfg uno_shuttle`. The models are `tests/loom_*.rs`; `.ci/run` runs both builds.
//!
//! Every lock in uno-core comes from here, as [`Mutex`], [`RwLock`] and [`Condvar`]: thin
//! wrappers that **ignore poisoning**. uno catches user panics where they happen (see
//! `crate::panic`), never while holding one of its own locks, so a poisoned lock only means a
//! panic elsewhere on that thread, and it must never turn into a second panic here. The models
//! check the semaphore, the task state, the cancellation token tree, the rate limiter, the
//! circuit breaker and the cache's single-flight hand-over; the rest of the crate shares the
//! same types, so a model build switches them all. The project cfgs (not plain `cfg(loom)`) keep the dependencies (event-listener,
//! async-lock, ...) on their std code.
//!
//! loom's `Arc` has no `Weak`, so the cancellation token tree keeps std's `Arc`/`Weak`: its
//! reference counts are not modelled, its lock and flag are.

#[cfg(all(uno_loom, uno_shuttle))]
compile_error!("`--cfg uno_loom` and `--cfg uno_shuttle` are two separate model builds");

#[cfg(not(any(uno_loom, uno_shuttle)))]
pub(crate) use atomic_waker::AtomicWaker;
#[cfg(not(any(uno_loom, uno_shuttle)))]
use std::sync as imp;
#[cfg(not(any(uno_loom, uno_shuttle)))]
pub(crate) use std::sync::{Arc, MutexGuard, RwLockReadGuard, RwLockWriteGuard, atomic};

#[cfg(uno_loom)]
use ::loom::sync as imp;
#[cfg(uno_loom)]
pub(crate) use ::loom::sync::{Arc, MutexGuard, RwLockReadGuard, RwLockWriteGuard, atomic};

#[cfg(uno_shuttle)]
use shuttle::sync as imp;
#[cfg(uno_shuttle)]
pub(crate) use shuttle::sync::{Arc, MutexGuard, RwLockReadGuard, RwLockWriteGuard, atomic};

use std::fmt;
use std::sync::{PoisonError, TryLockError};

/// A mutex whose `lock` never fails: poisoning is ignored (see the module docs).
#[derive(Default)]
pub(crate) struct Mutex<T>(imp::Mutex<T>);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(imp::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `None` if another holder has it right now.
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.0.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

impl<T> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").finish_non_exhaustive()
    }
}

/// A read-write lock whose `read` and `write` never fail: poisoning is ignored.
#[derive(Default)]
pub(crate) struct RwLock<T>(imp::RwLock<T>);

impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        RwLock(imp::RwLock::new(value))
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock").finish_non_exhaustive()
    }
}

/// A condition variable over [`Mutex`]'s guards; its `wait` never fails either.
#[derive(Default)]
pub(crate) struct Condvar(imp::Condvar);

impl Condvar {
    pub(crate) fn new() -> Self {
        Condvar(imp::Condvar::new())
    }

    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

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
            let mut slot = self.waker.lock();
            if !slot.as_ref().is_some_and(|old| old.will_wake(waker)) {
                *slot = Some(waker.clone());
            }
        }

        pub(crate) fn wake(&self) {
            let waker = self.waker.lock().take();
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
