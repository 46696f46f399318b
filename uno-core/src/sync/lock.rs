//! [`AsyncLock`]: a named async mutex over `async-lock`, with a timeout on the runtime's clock.

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
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use uno_core::sync::AsyncLock;
    ///
    /// let hits = AsyncLock::new(0);
    /// *hits.lock().await += 1;
    /// assert_eq!(*hits.lock().await, 1);
    /// assert_eq!(hits.name(), None);
    /// # });
    /// ```
    pub fn new(value: T) -> Self {
        AsyncLock {
            mutex: Arc::new(Mutex::new(value)),
            name: None,
        }
    }

    /// A named lock around `value`; the name appears in errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncLock;
    ///
    /// let accounts = AsyncLock::named("accounts", vec![100, 50]);
    /// assert_eq!(accounts.name(), Some("accounts"));
    /// assert_eq!(accounts.clone().name(), Some("accounts")); // clones share the name
    /// ```
    pub fn named(name: impl Into<Arc<str>>, value: T) -> Self {
        AsyncLock {
            mutex: Arc::new(Mutex::new(value)),
            name: Some(name.into()),
        }
    }

    /// The lock's name, if it has one.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncLock;
    ///
    /// assert_eq!(AsyncLock::named("jobs", ()).name(), Some("jobs"));
    /// assert_eq!(AsyncLock::new(()).name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Waits for the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use uno_core::sync::AsyncLock;
    ///
    /// let log = AsyncLock::new(vec!["start"]);
    /// log.lock().await.push("step"); // the guard is dropped at the end of the statement
    /// assert_eq!(*log.lock().await, ["start", "step"]);
    /// # });
    /// ```
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
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::sync::AsyncLock;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let counter = AsyncLock::new(0);
    /// let mut guard = counter.lock_owned().await; // 'static: can move into a task
    /// rt.spawn(async move { *guard += 1 }).await.unwrap();
    /// assert_eq!(*counter.lock().await, 1);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`lock`](Self::lock).
    pub fn lock_owned(&self) -> LockArc<T> {
        self.mutex.lock_arc()
    }

    /// Takes the lock if it is free, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncLock;
    ///
    /// let lock = AsyncLock::new(0);
    /// let guard = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_none()); // held: no waiting, just `None`
    /// drop(guard);
    /// assert!(lock.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.mutex.try_lock()
    }

    /// Takes the lock if it is free, returning an owned guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncLock;
    ///
    /// let buffer = AsyncLock::new(String::new());
    /// let mut guard = buffer.try_lock_owned().unwrap();
    /// assert!(buffer.try_lock_owned().is_none()); // held
    /// std::thread::spawn(move || guard.push_str("from a thread")).join().unwrap();
    /// assert_eq!(*buffer.try_lock().unwrap(), "from a thread");
    /// ```
    pub fn try_lock_owned(&self) -> Option<MutexGuardArc<T>> {
        self.mutex.try_lock_arc()
    }

    /// Waits for the lock for at most `duration` on `rt`'s clock.
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
    /// use uno_core::sync::AsyncLock;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let accounts = AsyncLock::named("accounts", 0);
    /// let held = accounts.lock().await;
    /// let err = accounts.lock_timeout(&rt, Duration::from_secs(1)).await.unwrap_err();
    /// assert_eq!(err.message(), r#"acquiring lock "accounts""#);
    /// assert_eq!(err.to_string(), r#"acquiring lock "accounts": timed out after 1s"#);
    /// drop(held);
    /// assert!(accounts.lock_timeout(&rt, Duration::from_secs(1)).await.is_ok());
    /// # });
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncLock;
    ///
    /// let mut lock = AsyncLock::new(1);
    /// *lock.get_mut().unwrap() += 1; // no clones: no locking needed
    /// let clone = lock.clone();
    /// assert!(lock.get_mut().is_none()); // shared with `clone`
    /// drop(clone);
    /// assert_eq!(lock.get_mut(), Some(&mut 2));
    /// ```
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
        Some(name) => format!("acquiring {kind} \"{name}\""),
        None => format!("acquiring {kind}"),
    }
}
