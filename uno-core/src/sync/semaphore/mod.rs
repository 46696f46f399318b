//! [`AsyncSemaphore`]: a fair, closable counting semaphore whose cancelled waiters never leak a
//! permit. The algorithm and its invariants are in `raw.rs`; this file is the API.

mod error;
mod raw;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub use error::{AcquireError, AcquireTimeoutError, TooManyPermits, TryAcquireError};
use raw::{Inner, Wait};

use crate::loom::Arc;
use crate::rt::Runtime;

/// The largest number of permits a semaphore can hold.
pub const MAX_PERMITS: usize = usize::MAX >> 3;

/// A counting semaphore: fair (first come, first served, also for multi-permit requests), closable,
/// and leak-free under cancellation. Clones share the same permits.
///
/// Permits are RAII: a [`SemaphorePermit`] returns its permits when dropped. A waiter that is
/// cancelled returns whatever it had been handed so far, so permits are never leaked.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// use uno_core::sync::AsyncSemaphore;
///
/// let connections = AsyncSemaphore::new(2);
/// let a = connections.acquire().await.unwrap();
/// let b = connections.acquire().await.unwrap();
/// assert!(connections.try_acquire().is_err()); // both taken
/// drop(a);
/// let c = connections.try_acquire().unwrap();
/// assert_eq!(connections.available_permits(), 0);
/// # drop((b, c));
/// # });
/// ```
#[derive(Clone)]
pub struct AsyncSemaphore {
    inner: Arc<Inner>,
}

impl AsyncSemaphore {
    /// A semaphore with `permits` permits. Zero is valid: nothing can be acquired until
    /// [`add_permits`](Self::add_permits).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::{AsyncSemaphore, TryAcquireError};
    ///
    /// let pool = AsyncSemaphore::new(3);
    /// assert_eq!(pool.available_permits(), 3);
    /// let gate = AsyncSemaphore::new(0); // nothing to acquire until `add_permits`
    /// assert_eq!(gate.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    /// ```
    pub fn new(permits: u32) -> Self {
        AsyncSemaphore {
            inner: Arc::new(Inner::new(permits as usize)),
        }
    }

    /// Permits free right now.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncSemaphore;
    ///
    /// let pool = AsyncSemaphore::new(3);
    /// let two = pool.try_acquire_many(2).unwrap();
    /// assert_eq!(pool.available_permits(), 1);
    /// drop(two); // permits come back when the permit is dropped
    /// assert_eq!(pool.available_permits(), 3);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.inner.available()
    }

    /// Adds `n` permits, handing them to queued waiters first.
    ///
    /// # Errors
    ///
    /// [`TooManyPermits`] if the total would exceed [`MAX_PERMITS`]; nothing is added then.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::{AsyncSemaphore, MAX_PERMITS, TooManyPermits};
    ///
    /// let pool = AsyncSemaphore::new(0);
    /// pool.add_permits(2).unwrap();
    /// assert_eq!(pool.available_permits(), 2);
    /// let err: TooManyPermits = pool.add_permits(MAX_PERMITS).unwrap_err();
    /// assert_eq!((err.total, err.requested), (2, MAX_PERMITS));
    /// assert_eq!(pool.available_permits(), 2); // nothing was added
    /// ```
    pub fn add_permits(&self, n: usize) -> Result<(), TooManyPermits> {
        self.inner.add(n)
    }

    /// Closes the semaphore: every waiter wakes with an error, later acquires fail at once.
    /// Permits already held stay valid and are returned as usual when dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use futures_lite::future::poll_once;
    /// use uno_core::sync::{AsyncSemaphore, TryAcquireError};
    ///
    /// let pool = AsyncSemaphore::new(1);
    /// let held = pool.acquire().await.unwrap();
    /// let mut waiter = Box::pin(pool.acquire());
    /// assert!(poll_once(&mut waiter).await.is_none()); // queued behind `held`
    /// pool.close();
    /// assert!(waiter.await.is_err()); // woken with an `AcquireError`
    /// assert_eq!(pool.try_acquire().unwrap_err(), TryAcquireError::Closed);
    /// drop(held); // still valid; returned as usual
    /// # });
    /// ```
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether [`close`](Self::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncSemaphore;
    ///
    /// let pool = AsyncSemaphore::new(1);
    /// assert!(!pool.is_closed());
    /// pool.clone().close(); // clones share the semaphore
    /// assert!(pool.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Takes one permit without waiting.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] if none is free or others are queued first (the semaphore is
    /// fair: a `try_acquire` does not overtake waiters); [`TryAcquireError::Closed`] once closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::{AsyncSemaphore, TryAcquireError};
    ///
    /// let pool = AsyncSemaphore::new(1);
    /// let permit = pool.try_acquire().unwrap();
    /// assert_eq!(pool.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    /// drop(permit);
    /// pool.close();
    /// assert_eq!(pool.try_acquire().unwrap_err(), TryAcquireError::Closed);
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits without waiting; see [`try_acquire`](Self::try_acquire).
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::{AsyncSemaphore, TryAcquireError};
    ///
    /// let pool = AsyncSemaphore::new(3);
    /// let two = pool.try_acquire_many(2).unwrap();
    /// assert_eq!(two.num_permits(), 2);
    /// // All or nothing: one permit is left, so a request for two takes none.
    /// assert_eq!(pool.try_acquire_many(2).unwrap_err(), TryAcquireError::NoPermits);
    /// assert_eq!(pool.available_permits(), 1);
    /// ```
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.inner.try_take(n as usize)?;
        Ok(SemaphorePermit {
            sem: &self.inner,
            n: n as usize,
        })
    }

    /// Takes one permit without waiting, returning an owned permit.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncSemaphore;
    ///
    /// let pool = AsyncSemaphore::new(1);
    /// let permit = pool.try_acquire_owned().unwrap(); // 'static: can move to a thread
    /// std::thread::spawn(move || drop(permit)).join().unwrap();
    /// assert_eq!(pool.available_permits(), 1);
    /// assert!(pool.try_acquire_owned().is_ok());
    /// ```
    pub fn try_acquire_owned(&self) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// Takes `n` permits without waiting, returning an owned permit.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::{AsyncSemaphore, TryAcquireError};
    ///
    /// let pool = AsyncSemaphore::new(4);
    /// let batch = pool.try_acquire_many_owned(3).unwrap();
    /// assert_eq!(pool.try_acquire_many_owned(2).unwrap_err(), TryAcquireError::NoPermits);
    /// drop(pool); // an owned permit keeps the semaphore alive
    /// assert_eq!(batch.num_permits(), 3);
    /// ```
    pub fn try_acquire_many_owned(&self, n: u32) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.inner.try_take(n as usize)?;
        Ok(OwnedSemaphorePermit {
            sem: self.inner.clone(),
            n: n as usize,
        })
    }

    /// Waits for one permit.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use futures_lite::future::poll_once;
    /// use uno_core::sync::AsyncSemaphore;
    ///
    /// let pool = AsyncSemaphore::new(1);
    /// let permit = pool.acquire().await.unwrap();
    /// let mut next = Box::pin(pool.acquire());
    /// assert!(poll_once(&mut next).await.is_none()); // waits for a permit
    /// drop(permit);
    /// assert!(next.await.is_ok());
    /// pool.close();
    /// assert!(pool.acquire().await.is_err()); // `AcquireError` once closed
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a waiter dropped before it completes returns every permit it had been handed
    /// and keeps its place in no queue. Waiters are served in arrival order.
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits, served in arrival order (a large request is not starved by small
    /// ones). Zero permits succeed at once (with [`AcquireError`] once closed). A request larger than the permits that will ever be
    /// available waits until the semaphore is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use futures_lite::future::poll_once;
    /// use uno_core::sync::AsyncSemaphore;
    ///
    /// let pool = AsyncSemaphore::new(2);
    /// let one = pool.acquire().await.unwrap();
    /// let mut both = Box::pin(pool.acquire_many(2));
    /// assert!(poll_once(&mut both).await.is_none()); // queued: only one is free
    /// assert!(pool.try_acquire().is_err()); // later requests do not overtake it
    /// drop(one);
    /// assert_eq!(both.await.unwrap().num_permits(), 2);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire).
    pub fn acquire_many(&self, n: u32) -> Acquire<'_> {
        Acquire {
            wait: Wait::new(&*self.inner, n as usize),
        }
    }

    /// Waits for one permit and returns an owned (`'static`) permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::sync::AsyncSemaphore;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let pool = AsyncSemaphore::new(1);
    /// let permit = pool.acquire_owned().await.unwrap();
    /// let job = rt.spawn(async move {
    ///     let _permit = permit; // 'static: held by the task until it finishes
    ///     "done"
    /// });
    /// assert_eq!(job.await.unwrap(), "done");
    /// assert_eq!(pool.available_permits(), 1);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire).
    pub fn acquire_owned(&self) -> AcquireOwned {
        self.acquire_many_owned(1)
    }

    /// Waits for `n` permits and returns an owned (`'static`) permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::sync::AsyncSemaphore;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let memory = AsyncSemaphore::new(8); // e.g. megabytes of buffer
    /// let permit = memory.acquire_many_owned(5).await.unwrap();
    /// assert_eq!(memory.available_permits(), 3);
    /// rt.spawn(async move { drop(permit) }).await.unwrap();
    /// assert_eq!(memory.available_permits(), 8);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire).
    pub fn acquire_many_owned(&self, n: u32) -> AcquireOwned {
        AcquireOwned {
            wait: Wait::new(self.inner.clone(), n as usize),
        }
    }

    /// Waits for one permit for at most `duration` on `rt`'s clock.
    ///
    /// # Errors
    ///
    /// [`AcquireTimeoutError::Elapsed`] in time, [`AcquireTimeoutError::Closed`] when closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::sync::{AcquireTimeoutError, AsyncSemaphore};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let pool = AsyncSemaphore::new(1);
    /// let held = pool.acquire().await.unwrap();
    /// let err = pool.acquire_timeout(&rt, Duration::from_secs(1)).await.unwrap_err();
    /// assert!(matches!(err, AcquireTimeoutError::Elapsed(_)));
    /// pool.close();
    /// let err = pool.acquire_timeout(&rt, Duration::from_secs(1)).await.unwrap_err();
    /// assert_eq!(err, AcquireTimeoutError::Closed);
    /// # drop(held);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire).
    pub async fn acquire_timeout(
        &self,
        rt: &Runtime,
        duration: Duration,
    ) -> Result<SemaphorePermit<'_>, AcquireTimeoutError> {
        self.acquire_many_timeout(rt, 1, duration).await
    }

    /// Waits for `n` permits for at most `duration` on `rt`'s clock.
    ///
    /// # Errors
    ///
    /// As [`acquire_timeout`](Self::acquire_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::sync::AsyncSemaphore;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let pool = AsyncSemaphore::new(3);
    /// let two = pool.acquire_many_timeout(&rt, 2, Duration::from_secs(1)).await.unwrap();
    /// assert_eq!(two.num_permits(), 2);
    /// let err = pool.acquire_many_timeout(&rt, 2, Duration::from_secs(1)).await.unwrap_err();
    /// let text = "acquiring semaphore permits: timed out after 1s";
    /// assert_eq!(err.to_string(), text);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire).
    pub async fn acquire_many_timeout(
        &self,
        rt: &Runtime,
        n: u32,
        duration: Duration,
    ) -> Result<SemaphorePermit<'_>, AcquireTimeoutError> {
        match rt
            .timeout(
                duration,
                "acquiring semaphore permits",
                self.acquire_many(n),
            )
            .await
        {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(AcquireError(()))) => Err(AcquireTimeoutError::Closed),
            Err(elapsed) => Err(AcquireTimeoutError::Elapsed(elapsed)),
        }
    }
}

impl fmt::Debug for AsyncSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncSemaphore")
            .field("available_permits", &self.available_permits())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The future returned by [`AsyncSemaphore::acquire`] and [`AsyncSemaphore::acquire_many`].
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Acquire<'a> {
    wait: Wait<&'a Inner>,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let wait = &mut self.wait;
        wait.poll_wait(cx).map_ok(|()| SemaphorePermit {
            sem: wait.sem,
            n: wait.n,
        })
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("permits", &self.wait.n)
            .finish()
    }
}

/// The future returned by [`AsyncSemaphore::acquire_owned`] and
/// [`AsyncSemaphore::acquire_many_owned`].
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct AcquireOwned {
    wait: Wait<Arc<Inner>>,
}

impl Future for AcquireOwned {
    type Output = Result<OwnedSemaphorePermit, AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let wait = &mut self.wait;
        wait.poll_wait(cx).map_ok(|()| OwnedSemaphorePermit {
            sem: wait.sem.clone(),
            n: wait.n,
        })
    }
}

impl fmt::Debug for AcquireOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireOwned")
            .field("permits", &self.wait.n)
            .finish()
    }
}

/// Permits borrowed from an [`AsyncSemaphore`], returned when dropped.
#[must_use = "the permits are returned as soon as the permit is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Inner,
    n: usize,
}

impl SemaphorePermit<'_> {
    /// How many permits this holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncSemaphore;
    ///
    /// let pool = AsyncSemaphore::new(5);
    /// let permit = pool.try_acquire_many(3).unwrap();
    /// assert_eq!(permit.num_permits(), 3);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.n
    }

    /// Drops the permit without returning its permits: the semaphore shrinks for good.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncSemaphore;
    ///
    /// let pool = AsyncSemaphore::new(2);
    /// pool.try_acquire().unwrap().forget();
    /// assert_eq!(pool.available_permits(), 1); // shrunk for good
    /// pool.add_permits(1).unwrap(); // until permits are added back
    /// assert_eq!(pool.available_permits(), 2);
    /// ```
    pub fn forget(mut self) {
        self.sem.forget(self.n);
        self.n = 0;
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release(self.n);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.n)
            .finish()
    }
}

/// Permits owned from an [`AsyncSemaphore`] (`'static`), returned when dropped.
#[must_use = "the permits are returned as soon as the permit is dropped"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Inner>,
    n: usize,
}

impl OwnedSemaphorePermit {
    /// How many permits this holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncSemaphore;
    ///
    /// let pool = AsyncSemaphore::new(5);
    /// let permit = pool.try_acquire_many_owned(3).unwrap();
    /// assert_eq!(permit.num_permits(), 3);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.n
    }

    /// Drops the permit without returning its permits: the semaphore shrinks for good.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncSemaphore;
    ///
    /// let pool = AsyncSemaphore::new(2);
    /// pool.try_acquire_owned().unwrap().forget();
    /// assert_eq!(pool.available_permits(), 1); // shrunk for good
    /// ```
    pub fn forget(mut self) {
        self.sem.forget(self.n);
        self.n = 0;
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.sem.release(self.n);
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.n)
            .finish()
    }
}
