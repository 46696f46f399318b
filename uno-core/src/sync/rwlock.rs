//! [`AsyncRwLock`]: a named async read-write lock over `async-lock`, with timeouts.

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
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use uno_core::sync::AsyncRwLock;
    ///
    /// let routes = AsyncRwLock::new(vec!["/"]);
    /// routes.write().await.push("/health");
    /// assert_eq!(routes.read().await.len(), 2);
    /// assert_eq!(routes.name(), None);
    /// # });
    /// ```
    pub fn new(value: T) -> Self {
        AsyncRwLock {
            lock: Arc::new(RwLock::new(value)),
            name: None,
        }
    }

    /// A named lock around `value`; the name appears in errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncRwLock;
    ///
    /// let config = AsyncRwLock::named("config", String::from("v1"));
    /// assert_eq!(config.name(), Some("config"));
    /// ```
    pub fn named(name: impl Into<Arc<str>>, value: T) -> Self {
        AsyncRwLock {
            lock: Arc::new(RwLock::new(value)),
            name: Some(name.into()),
        }
    }

    /// The lock's name, if it has one.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncRwLock;
    ///
    /// assert_eq!(AsyncRwLock::named("routes", ()).name(), Some("routes"));
    /// assert_eq!(AsyncRwLock::new(()).name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Waits for shared read access.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use uno_core::sync::AsyncRwLock;
    ///
    /// let config = AsyncRwLock::new(String::from("v1"));
    /// let (a, b) = (config.read().await, config.read().await); // readers share
    /// assert_eq!((a.as_str(), b.as_str()), ("v1", "v1"));
    /// assert!(config.try_write().is_none()); // but keep writers out
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped waiter takes nothing and wakes the next in line if it was notified.
    pub fn read(&self) -> Read<'_, T> {
        self.lock.read()
    }

    /// Waits for read access with an owned (`'static`) guard.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use uno_core::sync::AsyncRwLock;
    ///
    /// let config = AsyncRwLock::new(String::from("v1"));
    /// let guard = config.read_owned().await; // 'static: can move to another thread
    /// let len = std::thread::spawn(move || guard.len()).join().unwrap();
    /// assert_eq!(len, 2);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`read`](Self::read).
    pub fn read_owned(&self) -> ReadArc<'_, T> {
        self.lock.read_arc()
    }

    /// Waits for exclusive write access.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use uno_core::sync::AsyncRwLock;
    ///
    /// let config = AsyncRwLock::new(String::from("v1"));
    /// let mut guard = config.write().await;
    /// assert!(config.try_read().is_none()); // exclusive
    /// *guard = String::from("v2");
    /// drop(guard);
    /// assert_eq!(*config.read().await, "v2");
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a writer dropped while waiting no longer blocks readers.
    pub fn write(&self) -> Write<'_, T> {
        self.lock.write()
    }

    /// Waits for write access with an owned (`'static`) guard.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use uno_core::sync::AsyncRwLock;
    ///
    /// let config = AsyncRwLock::new(String::from("v1"));
    /// let mut guard = config.write_owned().await; // 'static: can move to another thread
    /// std::thread::spawn(move || guard.push_str("-patched")).join().unwrap();
    /// assert_eq!(*config.read().await, "v1-patched");
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`write`](Self::write).
    pub fn write_owned(&self) -> WriteArc<'_, T> {
        self.lock.write_arc()
    }

    /// Read access if no writer holds or waits for the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncRwLock;
    ///
    /// let lock = AsyncRwLock::new(0);
    /// let reader = lock.try_read().unwrap();
    /// assert!(lock.try_read().is_some()); // readers share
    /// let writer = lock.try_write();
    /// assert!(writer.is_none()); // a reader keeps writers out
    /// # drop(reader);
    /// ```
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.lock.try_read()
    }

    /// Write access if nobody holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncRwLock;
    ///
    /// let lock = AsyncRwLock::new(0);
    /// let mut writer = lock.try_write().unwrap();
    /// *writer += 1;
    /// assert!(lock.try_read().is_none()); // a writer keeps everyone out
    /// drop(writer);
    /// assert_eq!(*lock.try_read().unwrap(), 1);
    /// ```
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.lock.try_write()
    }

    /// Waits for read access for at most `duration` on `rt`'s clock.
    ///
    /// # Errors
    ///
    /// [`Elapsed`] naming the lock if it was not acquired in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::sync::AsyncRwLock;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let config = AsyncRwLock::named("config", 1);
    /// let writer = config.write().await;
    /// let err = config.read_timeout(&rt, Duration::from_secs(1)).await.unwrap_err();
    /// assert_eq!(err.message(), r#"acquiring read lock "config""#);
    /// drop(writer);
    /// assert_eq!(*config.read_timeout(&rt, Duration::from_secs(1)).await.unwrap(), 1);
    /// # });
    /// ```
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
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::sync::AsyncRwLock;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let config = AsyncRwLock::named("config", 1);
    /// let reader = config.read().await;
    /// let err = config.write_timeout(&rt, Duration::from_secs(1)).await.unwrap_err();
    /// assert_eq!(err.message(), r#"acquiring write lock "config""#);
    /// drop(reader);
    /// *config.write_timeout(&rt, Duration::from_secs(1)).await.unwrap() = 2;
    /// # });
    /// ```
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
