//! [`JoinError`]: why a task produced no output, and the [`PanicPayload`] it keeps when the task
//! panicked.

use std::any::Any;
use std::fmt;
use std::sync::{Mutex, PoisonError};

/// The value a caught panic was raised with, kept whole: [`resume`](Self::resume) re-raises it
/// as it was, [`into_inner`](Self::into_inner) gives it back for inspection.
///
/// A payload is `Box<dyn Any + Send>`, which is not `Sync`; it is kept behind a lock that is only
/// ever taken by value, so the errors holding it are `Send + Sync`. It is neither `Clone` nor
/// comparable, and neither are the errors that hold it.
///
/// # Examples
///
/// ```
/// use uno_core::rt::VirtualRuntime;
/// use uno_core::task::{ChildError, TaskGroup};
///
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// # vrt.block_on(async move {
/// let mut group = TaskGroup::<(), ()>::new(&rt);
/// group.spawn("parser", async { std::panic::panic_any(404u16) });
/// let err = group.next().await.unwrap().unwrap_err();
/// let ChildError::Panicked { message, payload, .. } = err else { panic!("{err:?}") };
/// assert_eq!(message, "<non-string panic payload>");
/// let payload = payload.into_inner();
/// assert_eq!(payload.downcast_ref::<u16>(), Some(&404)); // the value itself, not a copy of text
/// # });
/// ```
pub struct PanicPayload {
    payload: Mutex<Box<dyn Any + Send>>,
}

impl PanicPayload {
    pub(crate) fn new(payload: Box<dyn Any + Send>) -> Self {
        PanicPayload {
            payload: Mutex::new(payload),
        }
    }

    /// The payload, as `std::panic::catch_unwind` returned it.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{ChildError, TaskGroup};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let mut group = TaskGroup::<(), ()>::new(&rt);
    /// let disk = 3;
    /// group.spawn("worker", async move { panic!("disk {disk} is full") }); // a `String` payload
    /// let err = group.next().await.unwrap().unwrap_err();
    /// let ChildError::Panicked { payload, .. } = err else { panic!("{err:?}") };
    /// assert_eq!(payload.into_inner().downcast_ref::<String>().unwrap(), "disk 3 is full");
    /// # });
    /// ```
    pub fn into_inner(self) -> Box<dyn Any + Send> {
        self.payload
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Re-raises the panic on the current thread, with its original payload.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::panic::{AssertUnwindSafe, catch_unwind};
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{ChildError, TaskGroup};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let mut group = TaskGroup::<(), ()>::new(&rt);
    /// group.spawn("worker", async { std::panic::panic_any(7i32) });
    /// let err = group.next().await.unwrap().unwrap_err();
    /// let ChildError::Panicked { payload, .. } = err else { panic!("{err:?}") };
    /// let raised = catch_unwind(AssertUnwindSafe(|| payload.resume())).unwrap_err();
    /// assert_eq!(raised.downcast_ref::<i32>(), Some(&7));
    /// # });
    /// ```
    pub fn resume(self) -> ! {
        std::panic::resume_unwind(self.into_inner())
    }
}

impl fmt::Debug for PanicPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PanicPayload").finish_non_exhaustive()
    }
}

/// Why a [`Task`](super::Task) produced no output: it was cancelled, or it panicked.
///
/// A panic keeps its **original payload**, as tokio's `JoinError` does: [`into_panic`]
/// and [`try_into_panic`] give it back, [`resume_panic`] re-raises it as it was, and
/// [`panic_message`] reads its text (a `&str` or `String` payload, or
/// `"<non-string panic payload>"`).
///
/// `JoinError` is `Send + Sync` but neither `Clone` nor comparable, because a panic payload is
/// neither: compare with [`is_cancelled`] and [`is_panic`] instead.
///
/// [`into_panic`]: Self::into_panic
/// [`try_into_panic`]: Self::try_into_panic
/// [`resume_panic`]: Self::resume_panic
/// [`panic_message`]: Self::panic_message
/// [`is_cancelled`]: Self::is_cancelled
/// [`is_panic`]: Self::is_panic
///
/// # Examples
///
/// ```
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async move {
///     let err = rt.spawn(async { panic!("kaboom") }).await.unwrap_err();
///     assert_eq!(err.panic_message(), Some("kaboom"));
///     assert_eq!(err.to_string(), "task panicked: kaboom");
///
///     let err = rt.spawn(std::future::pending::<()>()).cancel_and_wait().await.unwrap_err();
///     assert!(err.is_cancelled());
///     assert_eq!(err.to_string(), "task was cancelled");
/// });
/// ```
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panicked {
        message: String,
        payload: PanicPayload,
    },
}

impl JoinError {
    /// The task was cancelled before it finished.
    pub(crate) fn cancelled() -> Self {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    /// A caught panic, by its payload (from [`crate::panic::catch`]).
    pub(crate) fn panicked(payload: Box<dyn Any + Send>) -> Self {
        JoinError {
            repr: Repr::Panicked {
                message: crate::panic::message_of(&*payload),
                payload: PanicPayload::new(payload),
            },
        }
    }

    /// Whether the task was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let task = rt.spawn(std::future::pending::<()>());
    /// let err = task.cancel_and_wait().await.unwrap_err();
    /// assert!(err.is_cancelled());
    /// assert!(!err.is_panic());
    /// # });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// Whether the task panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let task = rt.spawn(async { panic!("index out of bounds") });
    /// let err = task.await.unwrap_err();
    /// assert!(err.is_panic());
    /// assert_eq!(err.to_string(), "task panicked: index out of bounds");
    /// # });
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panicked { .. })
    }

    /// The panic's message, if the task panicked: its `&str` or `String` payload, or
    /// `"<non-string panic payload>"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let err = rt.spawn(async { panic!("row {}", 7) }).await.unwrap_err();
    /// assert_eq!(err.panic_message(), Some("row 7"));
    /// let err = rt.spawn(async { std::panic::panic_any(7u8) }).await.unwrap_err();
    /// assert_eq!(err.panic_message(), Some("<non-string panic payload>"));
    /// # });
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panicked { message, .. } => Some(message),
            Repr::Cancelled => None,
        }
    }

    /// The panic's original payload.
    ///
    /// # Panics
    ///
    /// If the task was cancelled rather than panicked (as tokio's `JoinError::into_panic`); use
    /// [`try_into_panic`](Self::try_into_panic) when it may have been.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let err = rt.spawn(async { std::panic::panic_any(42u32) }).await.unwrap_err();
    /// assert_eq!(err.into_panic().downcast_ref::<u32>(), Some(&42));
    /// # });
    /// ```
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        self.try_into_panic()
            .expect("`JoinError::into_panic` called on a cancelled task's error")
    }

    /// The panic's original payload, or the error itself if the task was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let err = rt.spawn(async { panic!("boom") }).await.unwrap_err();
    /// let payload = err.try_into_panic().unwrap();
    /// assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    ///
    /// let err = rt.spawn(std::future::pending::<()>()).cancel_and_wait().await.unwrap_err();
    /// assert!(err.try_into_panic().unwrap_err().is_cancelled()); // given back
    /// # });
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send>, JoinError> {
        match self.repr {
            Repr::Panicked { payload, .. } => Ok(payload.into_inner()),
            repr @ Repr::Cancelled => Err(JoinError { repr }),
        }
    }

    /// Re-raises a caught panic on the current thread **with its original payload**; returns the
    /// error unchanged otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::panic::{AssertUnwindSafe, catch_unwind};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let cancelled = rt.spawn(std::future::pending::<()>()).cancel_and_wait().await;
    /// assert!(cancelled.unwrap_err().resume_panic().is_cancelled()); // not a panic: given back
    ///
    /// let panicked = rt.spawn(async { std::panic::panic_any(7u64) }).await.unwrap_err();
    /// let payload = catch_unwind(AssertUnwindSafe(|| panicked.resume_panic())).unwrap_err();
    /// assert_eq!(payload.downcast_ref::<u64>(), Some(&7)); // the original payload
    /// # });
    /// ```
    pub fn resume_panic(self) -> Self {
        match self.repr {
            Repr::Panicked { payload, .. } => payload.resume(),
            repr => JoinError { repr },
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panicked { message, .. } => f
                .debug_struct("JoinError::Panicked")
                .field("message", message)
                .finish_non_exhaustive(),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Panicked { message, .. } => write!(f, "task panicked: {message}"),
        }
    }
}

impl std::error::Error for JoinError {}
