//! [`JoinError`]: why a task produced no output.

use std::fmt;

/// Why a [`Task`](super::Task) produced no output.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// The task was cancelled (its handle dropped or [`cancel`](super::Task::cancel)ed, or the
    /// executor shut down) before it finished.
    Cancelled,
    /// The task panicked; the panic was caught and its message kept.
    Panicked {
        /// The panic message (`"<non-string panic payload>"` when it was not a string).
        message: String,
    },
}

impl JoinError {
    /// A caught panic, by its message (from [`crate::panic::call`]).
    pub(crate) fn panicked(message: String) -> Self {
        JoinError::Panicked { message }
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
        matches!(self, JoinError::Cancelled)
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
        matches!(self, JoinError::Panicked { .. })
    }

    /// Re-raises a caught panic on the current thread; returns the error unchanged otherwise.
    ///
    /// The payload is the panic's message as a `String`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::panic::catch_unwind;
    /// use uno_core::task::JoinError;
    ///
    /// let cancelled = JoinError::Cancelled.resume_panic(); // not a panic: given back
    /// assert!(cancelled.is_cancelled());
    ///
    /// let panicked = JoinError::Panicked { message: "boom".into() };
    /// let payload = catch_unwind(|| panicked.resume_panic()).unwrap_err();
    /// assert_eq!(payload.downcast_ref::<String>().unwrap(), "boom");
    /// ```
    pub fn resume_panic(self) -> Self {
        match self {
            JoinError::Panicked { message } => std::panic::resume_unwind(Box::new(message)),
            other => other,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was cancelled before it finished"),
            JoinError::Panicked { message } => write!(f, "task panicked: {message}"),
        }
    }
}

impl std::error::Error for JoinError {}
