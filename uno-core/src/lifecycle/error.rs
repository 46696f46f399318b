use std::fmt;

use crate::lifecycle::ShutdownReport;
use crate::time::Elapsed;

/// A boxed error, what [`AsyncClose::close`](super::AsyncClose::close) returns on failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why closing one resource did not succeed.
#[derive(Debug)]
#[non_exhaustive]
pub enum CloseError {
    /// `close` returned an error.
    Failed(BoxError),
    /// `close` did not finish within its time limit; its future was dropped.
    TimedOut(Elapsed),
    /// `close` panicked — when called, in a poll of its future, or in that future's `Drop` (when it
    /// finished, or when the time limit dropped it: a panic is reported rather than the time-out) —
    /// and the panic was caught and its message kept.
    Panicked {
        /// The panic message.
        message: String,
    },
}

impl CloseError {
    /// Whether the close ran out of time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::{AsyncManager, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let manager = AsyncManager::with_close_timeout(&rt, Duration::from_secs(2)).unwrap();
    /// manager.register_resource("hung", on_close(|| std::future::pending())).unwrap();
    /// let report = manager.shutdown(Duration::from_secs(1)).await;
    /// assert!(report.failed[0].error.is_timeout());
    /// # });
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, CloseError::TimedOut(_))
    }
}

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseError::Failed(error) => write!(f, "close failed: {error}"),
            CloseError::TimedOut(elapsed) => write!(
                f,
                "close did not finish in time ({elapsed}); raise the close timeout or make close \
                 return sooner"
            ),
            CloseError::Panicked { message } => write!(f, "close panicked: {message}"),
        }
    }
}

impl std::error::Error for CloseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CloseError::Failed(error) => Some(&**error),
            CloseError::TimedOut(elapsed) => Some(elapsed),
            CloseError::Panicked { .. } => None,
        }
    }
}

/// A resource that did not close cleanly: its name and why.
#[derive(Debug)]
#[non_exhaustive]
pub struct ResourceError {
    /// The name it was registered or entered under.
    pub name: String,
    /// What went wrong.
    pub error: CloseError,
}

impl fmt::Display for ResourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "resource `{}`: {}", self.name, self.error)
    }
}

impl std::error::Error for ResourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Misuse of an [`AsyncManager`](super::AsyncManager) or an
/// [`AsyncContextGroup`](super::AsyncContextGroup).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleError {
    /// A resource or task with this name is already registered (or, for a task, running).
    DuplicateName {
        /// The name in use.
        name: String,
    },
    /// Shutdown has started: no new resources or tasks are taken.
    ShuttingDown,
    /// A close timeout of zero would fail every close before it starts.
    ZeroCloseTimeout,
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifecycleError::DuplicateName { name } => write!(
                f,
                "the name `{name}` is already registered: give each resource and task its own name"
            ),
            LifecycleError::ShuttingDown => f.write_str(
                "the manager is shutting down and takes nothing new: register before shutdown",
            ),
            LifecycleError::ZeroCloseTimeout => {
                f.write_str("a zero close timeout fails every close: pass a positive duration")
            }
        }
    }
}

impl std::error::Error for LifecycleError {}

/// The error of [`AsyncContextGroup::close`](super::AsyncContextGroup::close): every resource whose
/// close did not succeed, in closing (LIFO) order. The others were closed.
#[derive(Debug)]
#[non_exhaustive]
pub struct ContextCloseError {
    /// The failures, in the order the resources were closed.
    pub errors: Vec<ResourceError>,
}

impl fmt::Display for ContextCloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} resource(s) did not close cleanly (all were attempted)",
            self.errors.len()
        )?;
        for error in &self.errors {
            write!(f, "; {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ContextCloseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.errors
            .first()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The error of [`context_group`](super::context_group) and
/// [`AsyncContextGroup::scoped`](super::AsyncContextGroup::scoped). Either way, every resource was
/// closed (or its close attempted) before it was returned.
#[derive(Debug)]
#[non_exhaustive]
pub enum ContextGroupError<E> {
    /// The body returned an error.
    Body {
        /// The body's error.
        error: E,
        /// The closes that did not succeed afterwards, if any.
        close: Option<ContextCloseError>,
    },
    /// The body succeeded, but some resources did not close cleanly; the body's value was dropped.
    Close(ContextCloseError),
}

impl<E> ContextGroupError<E> {
    /// The body's error, if the body failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::context_group;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let err = vrt
    ///     .block_on(context_group(&rt, |_scope| async { Err::<(), _>("no route") }))
    ///     .unwrap_err();
    /// assert_eq!(err.body_error(), Some(&"no route"));
    /// assert!(err.close_error().is_none());
    /// ```
    pub fn body_error(&self) -> Option<&E> {
        match self {
            ContextGroupError::Body { error, .. } => Some(error),
            ContextGroupError::Close(_) => None,
        }
    }

    /// The body's error, by value, if the body failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::context_group;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let err = vrt
    ///     .block_on(context_group(&rt, |_scope| async { Err::<(), _>(String::from("no route")) }))
    ///     .unwrap_err();
    /// assert_eq!(err.into_body_error().as_deref(), Some("no route"));
    /// ```
    pub fn into_body_error(self) -> Option<E> {
        match self {
            ContextGroupError::Body { error, .. } => Some(error),
            ContextGroupError::Close(_) => None,
        }
    }

    /// The closes that did not succeed, if any (after a successful or a failed body).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::{context_group, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let err = vrt
    ///     .block_on(context_group(&rt, |scope| async move {
    ///         scope.enter_named("cache", on_close(|| async { Err("flush failed".into()) }));
    ///         Ok::<_, String>(())
    ///     }))
    ///     .unwrap_err();
    /// assert_eq!(err.close_error().unwrap().errors[0].name, "cache");
    /// ```
    pub fn close_error(&self) -> Option<&ContextCloseError> {
        match self {
            ContextGroupError::Body { close, .. } => close.as_ref(),
            ContextGroupError::Close(close) => Some(close),
        }
    }
}

impl<E: fmt::Display> fmt::Display for ContextGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextGroupError::Body { error, close: None } => {
                write!(f, "{error} (every resource was closed)")
            }
            ContextGroupError::Body {
                error,
                close: Some(close),
            } => write!(f, "{error}; then, closing: {close}"),
            ContextGroupError::Close(close) => write!(f, "{close}"),
        }
    }
}

/// The causes are part of the `Display` text, so `source` is `None`.
impl<E: fmt::Debug + fmt::Display> std::error::Error for ContextGroupError<E> {}

/// The error of [`run_application`](super::run_application).
#[derive(Debug)]
#[non_exhaustive]
pub enum ApplicationError<E> {
    /// Startup returned an error. What it had started was shut down; the report says how that
    /// went.
    Startup {
        /// Startup's error.
        error: E,
        /// The shutdown of what startup had registered (boxed: it is large, and errors should
        /// be small to move).
        report: Box<ShutdownReport>,
    },
    /// The application could not be set up (an adapter could not build its executor or install
    /// its signal handlers).
    Setup(std::io::Error),
}

impl<E: fmt::Display> fmt::Display for ApplicationError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplicationError::Startup { error, .. } => write!(
                f,
                "startup failed: {error} (what it had started was shut down; see the report)"
            ),
            ApplicationError::Setup(error) => write!(
                f,
                "could not set the application up (executor or signal handlers): {error}"
            ),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ApplicationError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApplicationError::Startup { error, .. } => Some(error),
            ApplicationError::Setup(error) => Some(error),
        }
    }
}
