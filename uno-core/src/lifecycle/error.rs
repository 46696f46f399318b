use std::fmt;
use std::sync::Arc;
use std::time::Duration;

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
    /// let manager = AsyncManager::builder(&rt)
    ///     .close_timeout(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
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
            // Transparent: the resource's own error, and the timeout's.
            CloseError::Failed(error) => fmt::Display::fmt(error, f),
            CloseError::TimedOut(elapsed) => fmt::Display::fmt(elapsed, f),
            CloseError::Panicked { message } => write!(f, "panicked: {message}"),
        }
    }
}

impl std::error::Error for CloseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CloseError::Failed(error) => error.source(),
            CloseError::TimedOut(elapsed) => std::error::Error::source(elapsed),
            CloseError::Panicked { .. } => None,
        }
    }
}

/// A resource that did not close cleanly: its name and why ([`source`](std::error::Error::source)
/// is the [`CloseError`]).
///
/// # Examples
///
/// ```
/// use std::error::Error;
/// use std::time::Duration;
/// use uno_core::lifecycle::{AsyncManager, on_close};
/// use uno_core::rt::VirtualRuntime;
///
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// # vrt.block_on(async move {
/// let manager = AsyncManager::new(&rt);
/// manager.register_resource("db", on_close(|| async { Err("disk full".into()) })).unwrap();
/// let report = manager.shutdown(Duration::from_secs(1)).await;
/// let failure = &report.failed[0];
/// assert_eq!(failure.to_string(), r#"could not close resource "db""#);
/// assert_eq!(failure.source().unwrap().to_string(), "disk full");
/// # });
/// ```
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
        write!(f, "could not close resource {:?}", self.name)
    }
}

impl std::error::Error for ResourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Misuse of an [`AsyncManager`](super::AsyncManager): a name taken twice, or a registration
/// after shutdown started. Each variant names the manager.
///
/// Give each resource and task its own name, and register everything before
/// [`shutdown`](super::AsyncManager::shutdown) (or [`run_application`](super::run_application)'s
/// signal).
///
/// # Examples
///
/// ```
/// use uno_core::lifecycle::{AsyncManager, LifecycleError, on_close};
/// use uno_core::rt::VirtualRuntime;
///
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// let manager = AsyncManager::builder(&rt).name("api").build().unwrap();
/// manager.register_resource("db", on_close(|| async { Ok(()) })).unwrap();
/// let err = manager.register_resource("db", on_close(|| async { Ok(()) })).unwrap_err();
/// assert!(matches!(&err, LifecycleError::DuplicateName { name, .. } if name == "db"));
/// assert_eq!(err.to_string(), r#"async manager "api" already has a resource or task named "db""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleError {
    /// A resource or task with this name is already registered (or, for a task, running).
    DuplicateName {
        /// The manager's [name](super::AsyncManager::name).
        manager: Arc<str>,
        /// The name in use.
        name: String,
    },
    /// Shutdown has started: no new resources or tasks are taken.
    ShuttingDown {
        /// The manager's [name](super::AsyncManager::name).
        manager: Arc<str>,
    },
}

impl LifecycleError {
    /// The name of the manager that refused.
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
    /// let manager = AsyncManager::new(&rt);
    /// vrt.block_on(manager.shutdown(Duration::from_secs(1)));
    /// let err = manager.register_resource("late", on_close(|| async { Ok(()) })).unwrap_err();
    /// assert_eq!(err.manager(), "async_manager"); // the default name
    /// ```
    pub fn manager(&self) -> &str {
        match self {
            LifecycleError::DuplicateName { manager, .. }
            | LifecycleError::ShuttingDown { manager } => manager,
        }
    }
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifecycleError::DuplicateName { manager, name } => write!(
                f,
                "async manager {manager:?} already has a resource or task named {name:?}"
            ),
            LifecycleError::ShuttingDown { manager } => {
                write!(f, "async manager {manager:?} is shutting down")
            }
        }
    }
}

impl std::error::Error for LifecycleError {}

/// A lifecycle builder was given a setting that cannot work: what
/// [`AsyncManagerBuilder::build`](super::AsyncManagerBuilder::build) and
/// [`AsyncContextGroupBuilder::build`](super::AsyncContextGroupBuilder::build) return, never a
/// panic.
///
/// A close timeout must be positive (zero fails every close before it starts) and bounded
/// (`Duration::MAX` would let one hung close hold a shutdown forever); a name must not be empty.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::lifecycle::{AsyncManager, ConfigError};
/// use uno_core::rt::VirtualRuntime;
///
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// let err = AsyncManager::builder(&rt).close_timeout(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err, ConfigError::ZeroCloseTimeout);
/// assert_eq!(err.to_string(), "close timeout must be greater than zero");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The close timeout was zero.
    ZeroCloseTimeout,
    /// The close timeout was `Duration::MAX`, that is no limit at all.
    UnboundedCloseTimeout,
    /// The name was the empty string.
    EmptyName,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::ZeroCloseTimeout => "close timeout must be greater than zero",
            ConfigError::UnboundedCloseTimeout => "close timeout must be less than Duration::MAX",
            ConfigError::EmptyName => "name must not be empty",
        })
    }
}

impl std::error::Error for ConfigError {}

/// Checks a builder's settings, for [`ConfigError`].
pub(crate) fn check_config(name: Option<&str>, close_timeout: Duration) -> Result<(), ConfigError> {
    if name.is_some_and(str::is_empty) {
        return Err(ConfigError::EmptyName);
    }
    if close_timeout.is_zero() {
        return Err(ConfigError::ZeroCloseTimeout);
    }
    if close_timeout == Duration::MAX {
        return Err(ConfigError::UnboundedCloseTimeout);
    }
    Ok(())
}

/// An error and its `source()` chain on one line (`a: b: c`), for `tracing` fields.
pub(crate) struct Chain<'a>(pub(crate) &'a dyn std::error::Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(error) = next {
            write!(f, ": {error}")?;
            next = error.source();
        }
        Ok(())
    }
}

/// The error of [`AsyncContextGroup::close`](super::AsyncContextGroup::close): every resource whose
/// close did not succeed, in closing (LIFO) order. The others were closed.
///
/// [`source`](std::error::Error::source) is the first failure; [`errors`](Self::errors) has them
/// all.
///
/// # Examples
///
/// ```
/// use std::error::Error;
/// use uno_core::lifecycle::{AsyncContextGroup, on_close};
/// use uno_core::rt::VirtualRuntime;
///
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// let stack = AsyncContextGroup::builder(&rt).name("request").build().unwrap();
/// stack.enter_named("cache", on_close(|| async { Err("flush failed".into()) }));
/// let err = vrt.block_on(stack.close()).unwrap_err();
/// assert_eq!(err.to_string(), r#"1 resource of context group "request" did not close"#);
/// assert_eq!(err.source().unwrap().to_string(), r#"could not close resource "cache""#);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ContextCloseError {
    /// The [name](super::AsyncContextGroup::name) of the group.
    pub name: Arc<str>,
    /// The failures, in the order the resources were closed.
    pub errors: Vec<ResourceError>,
}

impl fmt::Display for ContextCloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        let resources = if n == 1 { "resource" } else { "resources" };
        write!(
            f,
            "{n} {resources} of context group {:?} did not close",
            self.name
        )
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

/// Transparent: the body's error as it is, or the [`ContextCloseError`] as it is. After a failed
/// body, close failures are secondary and only reachable through
/// [`close_error`](ContextGroupError::close_error).
impl<E: fmt::Display> fmt::Display for ContextGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextGroupError::Body { error, .. } => fmt::Display::fmt(error, f),
            ContextGroupError::Close(close) => fmt::Display::fmt(close, f),
        }
    }
}

/// Transparent, as `Display`: the `source` of the body's error, or of the [`ContextCloseError`].
impl<E: std::error::Error + 'static> std::error::Error for ContextGroupError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ContextGroupError::Body { error, .. } => error.source(),
            ContextGroupError::Close(close) => std::error::Error::source(close),
        }
    }
}

/// The error of [`run_application`](super::run_application): which step failed; the cause is
/// the [`source`](std::error::Error::source) (and the `error` field).
///
/// # Examples
///
/// ```
/// use std::error::Error;
/// use std::time::Duration;
/// use uno_core::lifecycle::{ApplicationError, run_application};
/// use uno_core::rt::VirtualRuntime;
///
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// let err = vrt
///     .block_on(run_application(
///         &rt,
///         |_manager| async { Err(std::io::Error::other("port 80 in use")) },
///         |_manager| async {},
///         std::future::pending::<()>(),
///         Duration::from_secs(1),
///     ))
///     .unwrap_err();
/// assert_eq!(err.to_string(), "application startup failed");
/// assert_eq!(err.source().unwrap().to_string(), "port 80 in use");
/// assert!(matches!(err, ApplicationError::Startup { .. }));
/// ```
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

impl<E> fmt::Display for ApplicationError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplicationError::Startup { .. } => f.write_str("application startup failed"),
            ApplicationError::Setup(_) => f.write_str("could not set up the application"),
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
