use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_lock::RwLock;

use super::guards::{Read, ReadArc, RwLockReadGuard, RwLockWriteGuard, Write, WriteArc};
use super::lock::describe_timeout;
use crate::rt::Runtime;
use crate::time::Elapsed;

/// An async read-write lock with an optional name, shared by cloning.
///
/// Many readers or one writer. Built on `async_lock::RwLock`, which is write-preferring: once a
/// writer waits, new readers queue behind it, so writers are not starved.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// use uno_core::sync::AsyncRwLock;
///
/// let config = AsyncRwLock::named("config", String::from("v1"));
/// let (a, b) = (config.read().await, config.read().await); // readers share
/// assert_eq!(*a, *b);
/// drop((a, b));
/// *config.write().await = String::from("v2");
/// assert_eq!(*config.read().await, "v2");
/// # });
/// ```
pub struct AsyncRwLock<T> {
    lock: Arc<RwLock<T>>,
    name: Option<Arc<str>>,
}

impl<T> AsyncRwLock<T> {
    /// An unnamed lock around `value`.
    pub fn new(value: T) -> Self {
        AsyncRwLock {
            lock: Arc::new(RwLock::new(value)),
            name: None,
        }
    }

    /// A named lock around `value`; the name appears in errors.
    pub fn named(name: impl Into<Arc<str>>, value: T) -> Self {
        AsyncRwLock {
            lock: Arc::new(RwLock::new(value)),
            name: Some(name.into()),
        }
    }

    /// The lock's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Waits for shared read access.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped waiter takes nothing and wakes the next in line if it was notified.
    pub fn read(&self) -> Read<'_, T> {
        self.lock.read()
    }

    /// Waits for read access with an owned (`'static`) guard.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`read`](Self::read).
    pub fn read_owned(&self) -> ReadArc<'_, T> {
        self.lock.read_arc()
    }

    /// Waits for exclusive write access.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a writer dropped while waiting no longer blocks readers.
    pub fn write(&self) -> Write<'_, T> {
        self.lock.write()
    }

    /// Waits for write access with an owned (`'static`) guard.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`write`](Self::write).
    pub fn write_owned(&self) -> WriteArc<'_, T> {
        self.lock.write_arc()
    }

    /// Read access if no writer holds or waits for the lock.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.lock.try_read()
    }

    /// Write access if nobody holds the lock.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.lock.try_write()
    }

    /// Waits for read access for at most `duration` on `rt`'s clock.
    ///
    /// # Errors
    ///
    /// [`Elapsed`] naming the lock if it was not acquired in time.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`read`](Self::read).
    pub async fn read_timeout(
        &self,
        rt: &Runtime,
        duration: Duration,
    ) -> Result<RwLockReadGuard<'_, T>, Elapsed> {
        rt.timeout(duration, "", self.read())
            .await
            .map_err(|e| e.with_message(describe_timeout("read lock", self.name())))
    }

    /// Waits for write access for at most `duration` on `rt`'s clock.
    ///
    /// # Errors
    ///
    /// [`Elapsed`] naming the lock if it was not acquired in time.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`write`](Self::write).
    pub async fn write_timeout(
        &self,
        rt: &Runtime,
        duration: Duration,
    ) -> Result<RwLockWriteGuard<'_, T>, Elapsed> {
        rt.timeout(duration, "", self.write())
            .await
            .map_err(|e| e.with_message(describe_timeout("write lock", self.name())))
    }
}

impl<T> Clone for AsyncRwLock<T> {
    fn clone(&self) -> Self {
        AsyncRwLock {
            lock: self.lock.clone(),
            name: self.name.clone(),
        }
    }
}

impl<T: Default> Default for AsyncRwLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> fmt::Debug for AsyncRwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncRwLock")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
