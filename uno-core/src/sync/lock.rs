use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_lock::Mutex;

use super::guards::{Lock, LockArc, MutexGuard, MutexGuardArc};
use crate::rt::Runtime;
use crate::time::Elapsed;

/// An async mutex with an optional name, shared by cloning.
///
/// Built on `async_lock::Mutex`: the guard releases the lock when dropped, including when a waiting
/// future is cancelled (no lost wake-up, no stuck lock), and waiters are served fairly under
/// contention (a waiter starved for more than half a millisecond is handed the lock directly).
/// The name, if any, appears in timeout errors.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// use uno_core::sync::AsyncLock;
///
/// let accounts = AsyncLock::named("accounts", vec![100, 50]);
/// let shared = accounts.clone(); // the same lock
/// {
///     let mut guard = shared.lock().await;
///     guard[0] -= 30;
///     guard[1] += 30;
/// }
/// assert_eq!(*accounts.lock().await, vec![70, 80]);
/// assert_eq!(accounts.name(), Some("accounts"));
/// # });
/// ```
pub struct AsyncLock<T> {
    mutex: Arc<Mutex<T>>,
    name: Option<Arc<str>>,
}

impl<T> AsyncLock<T> {
    /// An unnamed lock around `value`.
    pub fn new(value: T) -> Self {
        AsyncLock {
            mutex: Arc::new(Mutex::new(value)),
            name: None,
        }
    }

    /// A named lock around `value`; the name appears in errors.
    pub fn named(name: impl Into<Arc<str>>, value: T) -> Self {
        AsyncLock {
            mutex: Arc::new(Mutex::new(value)),
            name: Some(name.into()),
        }
    }

    /// The lock's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Waits for the lock.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a waiter dropped before it got the lock leaves the lock as it was, and a lock
    /// handed to it as it was dropped is passed on to the next waiter.
    pub fn lock(&self) -> Lock<'_, T> {
        self.mutex.lock()
    }

    /// Waits for the lock and returns a guard that owns a reference to it (`'static`, can move
    /// into a spawned task).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`lock`](Self::lock).
    pub fn lock_owned(&self) -> LockArc<T> {
        self.mutex.lock_arc()
    }

    /// Takes the lock if it is free, without waiting.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.mutex.try_lock()
    }

    /// Takes the lock if it is free, returning an owned guard.
    pub fn try_lock_owned(&self) -> Option<MutexGuardArc<T>> {
        self.mutex.try_lock_arc()
    }

    /// Waits for the lock for at most `duration` on `rt`'s clock.
    ///
    /// # Errors
    ///
    /// [`Elapsed`] naming the lock if it was not acquired in time.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`lock`](Self::lock).
    pub async fn lock_timeout(
        &self,
        rt: &Runtime,
        duration: Duration,
    ) -> Result<MutexGuard<'_, T>, Elapsed> {
        rt.timeout(duration, "", self.lock())
            .await
            .map_err(|e| e.with_message(describe_timeout("lock", self.name())))
    }

    /// Mutable access without locking: having `&mut self` with no clones proves no one else holds
    /// it. Returns `None` when the lock is shared with clones.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        Arc::get_mut(&mut self.mutex).map(Mutex::get_mut)
    }
}

impl<T> Clone for AsyncLock<T> {
    fn clone(&self) -> Self {
        AsyncLock {
            mutex: self.mutex.clone(),
            name: self.name.clone(),
        }
    }
}

impl<T: Default> Default for AsyncLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> fmt::Debug for AsyncLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncLock")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

pub(super) fn describe_timeout(kind: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{kind} `{name}` was not acquired in time"),
        None => format!("{kind} was not acquired in time"),
    }
}
