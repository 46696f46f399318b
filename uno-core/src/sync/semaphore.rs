use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::loom::atomic::{AtomicU8, AtomicUsize, Ordering, fence};
use crate::loom::{Arc, AtomicWaker, Mutex, MutexGuard};
use crate::rt::Runtime;
use crate::time::Elapsed;

/// The largest number of permits a semaphore can hold.
pub const MAX_PERMITS: usize = usize::MAX >> 3;

/// Bit 0 of `Inner::permits`: the semaphore is closed. Available permits are stored shifted left.
const CLOSED: usize = 1;

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

struct Inner {
    /// `available << 1 | CLOSED`. Permits here are free for anyone, as long as no one is queued.
    permits: AtomicUsize,
    /// Number of queued waiters; read without the lock by the release fast path.
    queued: AtomicUsize,
    /// Permits in existence (free, handed out or being handed over): bounded by [`MAX_PERMITS`].
    total: AtomicUsize,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    next_id: u64,
    /// Waiters in arrival order (ids grow).
    waiting: BTreeMap<u64, Arc<Waiter>>,
}

const WAITING: u8 = 0;
const GRANTED: u8 = 1;
const REJECTED: u8 = 2;

struct Waiter {
    needed: usize,
    /// Permits handed to this waiter so far; only touched under the queue lock.
    assigned: AtomicUsize,
    state: AtomicU8,
    waker: AtomicWaker,
}

/// `try_acquire` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// The semaphore is closed.
    Closed,
    /// Not enough permits now (or others are queued first).
    NoPermits,
}

/// The semaphore was closed while waiting or before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquireError(());

/// An acquire with a time limit failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcquireTimeoutError {
    /// The semaphore is closed.
    Closed,
    /// The permits were not acquired in time.
    Elapsed(Elapsed),
}

/// Adding permits would exceed [`MAX_PERMITS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyPermits {
    /// Permits in existence before the call (free or held).
    pub total: usize,
    /// Permits the call tried to add.
    pub requested: usize,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore is closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available right now"),
        }
    }
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore is closed")
    }
}

impl fmt::Display for AcquireTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireTimeoutError::Closed => f.write_str("semaphore is closed"),
            AcquireTimeoutError::Elapsed(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for TooManyPermits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "adding {} permits to {} would exceed the maximum of {MAX_PERMITS}",
            self.requested, self.total
        )
    }
}

impl std::error::Error for TryAcquireError {}
impl std::error::Error for AcquireError {}
impl std::error::Error for AcquireTimeoutError {}
impl std::error::Error for TooManyPermits {}

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
            inner: Arc::new(Inner {
                permits: AtomicUsize::new((permits as usize) << 1),
                queued: AtomicUsize::new(0),
                total: AtomicUsize::new(permits as usize),
                queue: Mutex::new(Queue::default()),
            }),
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
        self.inner.permits.load(Ordering::Acquire) >> 1
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
    /// let err = pool.add_permits(MAX_PERMITS).unwrap_err();
    /// assert_eq!(err, TooManyPermits { total: 2, requested: MAX_PERMITS });
    /// assert_eq!(pool.available_permits(), 2); // nothing was added
    /// ```
    pub fn add_permits(&self, n: usize) -> Result<(), TooManyPermits> {
        // Permits handed out still count: once returned they must not push the semaphore past
        // the maximum.
        self.inner
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |total| {
                (n <= MAX_PERMITS - total).then(|| total + n)
            })
            .map_err(|total| TooManyPermits {
                total,
                requested: n,
            })?;
        self.inner.permits.fetch_add(n << 1, Ordering::SeqCst);
        // The release side of the store-buffering pair: see `Inner::release`.
        fence(Ordering::SeqCst);
        self.inner.hand_to_waiters();
        Ok(())
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
        self.inner.permits.fetch_or(CLOSED, Ordering::AcqRel);
        let mut queue = self.inner.queue();
        let waiting = std::mem::take(&mut queue.waiting);
        self.inner.queued.store(0, Ordering::SeqCst);
        for waiter in waiting.into_values() {
            // Partial grants go back; the waiter itself gets nothing.
            let assigned = waiter.assigned.swap(0, Ordering::Relaxed);
            self.inner
                .permits
                .fetch_add(assigned << 1, Ordering::AcqRel);
            waiter.state.store(REJECTED, Ordering::Release);
            waiter.waker.wake();
        }
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
        self.inner.permits.load(Ordering::Acquire) & CLOSED != 0
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
    /// assert_eq!(job.await, Ok("done"));
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
    /// let text = "semaphore permits were not acquired in time (timed out after 1s)";
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
                "semaphore permits were not acquired in time",
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

impl Inner {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock()
    }

    fn try_take(&self, n: usize) -> Result<(), TryAcquireError> {
        let mut current = self.permits.load(Ordering::Acquire);
        loop {
            if current & CLOSED != 0 {
                return Err(TryAcquireError::Closed);
            }
            if n == 0 {
                return Ok(());
            }
            // Fairness: free permits are not taken past a queue of waiters.
            if current >> 1 < n || self.queued.load(Ordering::SeqCst) != 0 {
                return Err(TryAcquireError::NoPermits);
            }
            match self.permits.compare_exchange_weak(
                current,
                current - (n << 1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    /// Takes up to `want` free permits; returns how many were taken.
    fn take_up_to(&self, want: usize) -> usize {
        let mut current = self.permits.load(Ordering::Acquire);
        loop {
            let take = want.min(current >> 1);
            if take == 0 {
                return 0;
            }
            match self.permits.compare_exchange_weak(
                current,
                current - (take << 1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return take,
                Err(actual) => current = actual,
            }
        }
    }

    fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        // A store-buffering pair with the enqueue in `Wait::poll_wait` (we add permits, then read
        // `queued`; the waiter adds itself to `queued`, then reads the permits): with a SeqCst
        // fence between the write and the read on both sides, at least one side sees the other's
        // write — either we see the new waiter and hand the permits over under the lock, or the
        // waiter's own hand-over sees the permits. Without the fences a plain `Acquire` read of
        // the permits may miss this release, and the waiter sleeps beside a free permit (found by
        // the loom model `tests/loom_semaphore.rs`).
        self.permits.fetch_add(n << 1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.hand_to_waiters();
    }

    fn hand_to_waiters(&self) {
        if self.queued.load(Ordering::SeqCst) != 0 {
            self.hand_over(&mut self.queue());
        }
    }

    /// Moves free permits to the waiters at the head of the queue, in order, waking each one that
    /// is fully served. The head waiter accumulates permits, so it cannot be starved.
    fn hand_over(&self, queue: &mut Queue) {
        while let Some(entry) = queue.waiting.first_entry() {
            let waiter = entry.get();
            let assigned = waiter.assigned.load(Ordering::Relaxed);
            let took = self.take_up_to(waiter.needed - assigned);
            waiter.assigned.store(assigned + took, Ordering::Relaxed);
            if assigned + took < waiter.needed {
                return;
            }
            let waiter = entry.remove();
            self.queued.fetch_sub(1, Ordering::SeqCst);
            waiter.state.store(GRANTED, Ordering::Release);
            waiter.waker.wake();
        }
    }
}

/// The waiting state machine shared by [`Acquire`] and [`AcquireOwned`].
struct Wait<S: Deref<Target = Inner>> {
    sem: S,
    n: usize,
    /// Present while queued.
    queued: Option<(u64, Arc<Waiter>)>,
    done: bool,
}

impl<S: Deref<Target = Inner>> Wait<S> {
    fn new(sem: S, n: usize) -> Self {
        Wait {
            sem,
            n,
            queued: None,
            done: false,
        }
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), AcquireError>> {
        assert!(!self.done, "semaphore `Acquire` polled after completion");
        let waiter = match &self.queued {
            Some((_, waiter)) => waiter.clone(),
            None => {
                match self.sem.try_take(self.n) {
                    Ok(()) => {
                        self.done = true;
                        return Poll::Ready(Ok(()));
                    }
                    Err(TryAcquireError::Closed) => {
                        self.done = true;
                        return Poll::Ready(Err(AcquireError(())));
                    }
                    Err(TryAcquireError::NoPermits) => {}
                }
                let waiter = Arc::new(Waiter {
                    needed: self.n,
                    assigned: AtomicUsize::new(0),
                    state: AtomicU8::new(WAITING),
                    waker: AtomicWaker::new(),
                });
                waiter.waker.register(cx.waker());
                let mut queue = self.sem.queue();
                if self.sem.permits.load(Ordering::Acquire) & CLOSED != 0 {
                    self.done = true;
                    return Poll::Ready(Err(AcquireError(())));
                }
                let id = queue.next_id;
                queue.next_id += 1;
                queue.waiting.insert(id, waiter.clone());
                self.sem.queued.fetch_add(1, Ordering::SeqCst);
                // The waiter side of the store-buffering pair in `Inner::release`.
                fence(Ordering::SeqCst);
                self.sem.hand_over(&mut queue);
                drop(queue);
                self.queued = Some((id, waiter.clone()));
                waiter
            }
        };
        waiter.waker.register(cx.waker());
        match waiter.state.load(Ordering::Acquire) {
            GRANTED => {
                self.queued = None;
                self.done = true;
                Poll::Ready(Ok(()))
            }
            REJECTED => {
                self.queued = None;
                self.done = true;
                Poll::Ready(Err(AcquireError(())))
            }
            _ => Poll::Pending,
        }
    }
}

impl<S: Deref<Target = Inner>> Drop for Wait<S> {
    fn drop(&mut self) {
        let Some((id, waiter)) = self.queued.take() else {
            return;
        };
        let mut queue = self.sem.queue();
        let give_back = if queue.waiting.remove(&id).is_some() {
            self.sem.queued.fetch_sub(1, Ordering::SeqCst);
            waiter.assigned.swap(0, Ordering::Relaxed)
        } else if waiter.state.load(Ordering::Acquire) == GRANTED {
            // Granted while we were being dropped: the permits are ours to return.
            waiter.needed
        } else {
            0
        };
        if give_back > 0 {
            self.sem.permits.fetch_add(give_back << 1, Ordering::SeqCst);
            self.sem.hand_over(&mut queue);
        }
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
        self.sem.total.fetch_sub(self.n, Ordering::AcqRel);
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
        self.sem.total.fetch_sub(self.n, Ordering::AcqRel);
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
