//! [`AsyncEvent`]: a flag tasks wait on, set and cleared by hand, and its wait future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use event_listener::{Event, EventListener};

use crate::rt::Runtime;
use crate::time::Elapsed;

/// Bit 0: the event is set. The rest counts how many times it has been set (its generation).
const SET: u64 = 1;

/// A flag tasks can wait on: [`set`](Self::set) wakes every waiter; [`clear`](Self::clear) resets it.
/// Clones share one event.
///
/// A waiter whose wait began before a `set` completes even if the event is cleared again before the
/// waiter runs: no wake-up is lost to a quick set/clear pulse (asyncio's `Event` semantics).
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// use uno_core::sync::AsyncEvent;
///
/// let ready = AsyncEvent::new();
/// assert!(!ready.is_set());
/// ready.set();
/// ready.wait().await; // already set: returns at once
/// ready.clear();
/// assert!(!ready.is_set());
/// # });
/// ```
#[derive(Clone, Default)]
pub struct AsyncEvent {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: AtomicU64,
    event: Event,
    /// Waits that may be listening (counted before they listen, uncounted when they end): a
    /// `set` that finds none skips event-listener's `notify`, which takes its list's lock. All
    /// SeqCst with the state's updates, so a wait counted too late to be notified sees the set
    /// when it re-checks the state after listening.
    waiting: AtomicUsize,
}

impl AsyncEvent {
    /// A new event, not set.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncEvent;
    ///
    /// let ready = AsyncEvent::new();
    /// assert!(!ready.is_set());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the event and wakes every waiter. Setting a set event does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::sync::AsyncEvent;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let ready = AsyncEvent::new();
    /// let waiter = ready.clone();
    /// let task = rt.spawn(async move { waiter.wait().await; "woken" });
    /// ready.set(); // wakes every waiter
    /// assert_eq!(task.await.unwrap(), "woken");
    /// # });
    /// ```
    pub fn set(&self) {
        let was = self
            .inner
            .state
            .fetch_update(Ordering::SeqCst, Ordering::Acquire, |s| {
                (s & SET == 0).then(|| ((s >> 1).wrapping_add(1) << 1) | SET)
            });
        if was.is_ok() && self.inner.waiting.load(Ordering::SeqCst) > 0 {
            self.inner.event.notify(usize::MAX);
        }
    }

    /// Clears the event; later waits block until the next [`set`](Self::set).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::future::{block_on, poll_once};
    /// use uno_core::sync::AsyncEvent;
    ///
    /// let ready = AsyncEvent::new();
    /// ready.set();
    /// ready.clear();
    /// assert!(!ready.is_set());
    /// assert!(block_on(poll_once(ready.wait())).is_none()); // waits for the next `set`
    /// ```
    pub fn clear(&self) {
        self.inner.state.fetch_and(!SET, Ordering::AcqRel);
    }

    /// Whether the event is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::AsyncEvent;
    ///
    /// let ready = AsyncEvent::new();
    /// assert!(!ready.is_set());
    /// ready.set();
    /// assert!(ready.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) & SET != 0
    }

    /// Waits until the event is set (returns at once if it is).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::future::{block_on, poll_once};
    /// use uno_core::sync::AsyncEvent;
    ///
    /// let ready = AsyncEvent::new();
    /// let mut waiter = Box::pin(ready.wait());
    /// assert!(block_on(poll_once(&mut waiter)).is_none()); // not set: waiting
    /// ready.set();
    /// ready.clear(); // a quick pulse...
    /// assert!(block_on(poll_once(&mut waiter)).is_some()); // ...still releases the waiter
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping a waiter affects no other waiter.
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            inner: &self.inner,
            generation: None,
            listener: None,
            counted: false,
        }
    }

    /// Waits until the event is set, for at most `duration` on `rt`'s clock.
    ///
    /// # Errors
    ///
    /// [`Elapsed`] if the event was not set in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::sync::AsyncEvent;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let ready = AsyncEvent::new();
    /// let err = ready.wait_timeout(&rt, Duration::from_secs(1)).await.unwrap_err();
    /// assert_eq!(err.message(), "waiting for the event");
    /// assert_eq!(err.to_string(), "waiting for the event: timed out after 1s");
    /// ready.set();
    /// assert_eq!(ready.wait_timeout(&rt, Duration::from_secs(1)).await, Ok(()));
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`wait`](Self::wait).
    pub async fn wait_timeout(&self, rt: &Runtime, duration: Duration) -> Result<(), Elapsed> {
        rt.timeout(duration, "waiting for the event", self.wait())
            .await
    }
}

impl fmt::Debug for AsyncEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncEvent")
            .field("set", &self.is_set())
            .finish()
    }
}

/// The future returned by [`AsyncEvent::wait`].
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct EventWait<'a> {
    inner: &'a Inner,
    /// The generation seen at the first poll; any later `set` releases this waiter.
    generation: Option<u64>,
    listener: Option<EventListener>,
    /// Whether this wait is counted in `Inner::waiting`.
    counted: bool,
}

impl EventWait<'_> {
    /// Ends the wait: stops listening and uncounts it.
    fn done(&mut self) {
        self.listener = None;
        if std::mem::take(&mut self.counted) {
            self.inner.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        self.done();
    }
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            let state = this.inner.state.load(Ordering::SeqCst);
            let generation = *this.generation.get_or_insert(state >> 1);
            if state & SET != 0 || state >> 1 != generation {
                this.done();
                return Poll::Ready(());
            }
            match &mut this.listener {
                // Counted and listening first, then re-check the state: a `set` in between is
                // not missed (it either sees this wait counted and notifies, or is seen).
                None => {
                    if !std::mem::replace(&mut this.counted, true) {
                        this.inner.waiting.fetch_add(1, Ordering::SeqCst);
                    }
                    this.listener = Some(this.inner.event.listen());
                }
                Some(listener) => {
                    ready!(Pin::new(listener).poll(cx));
                    this.listener = None;
                }
            }
        }
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait").finish_non_exhaustive()
    }
}
