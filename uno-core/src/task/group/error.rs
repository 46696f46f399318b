//! The group's errors: a child's ([`ChildError`]), the group's ([`GroupError`]), and a bad
//! configuration's ([`GroupConfigError`]).

use std::fmt;

/// Why a child of a [`TaskGroup`](super::TaskGroup) produced no output. Every variant names the
/// child.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChildError<E> {
    /// The child's future returned `Err(error)`.
    Failed {
        /// The name given to [`spawn`](super::TaskGroup::spawn).
        name: String,
        /// The child's own error.
        error: E,
    },
    /// The child panicked; the panic was caught and its message kept.
    Panicked {
        /// The name given to [`spawn`](super::TaskGroup::spawn).
        name: String,
        /// The panic message (`"<non-string panic payload>"` when it was not a string).
        message: String,
    },
    /// The child was cancelled before it finished: by a failing sibling (fail-fast), by
    /// [`shutdown`](super::TaskGroup::shutdown), by dropping the group, or through its handle.
    Cancelled {
        /// The name given to [`spawn`](super::TaskGroup::spawn).
        name: String,
    },
    /// The child's outcome was already taken by the other receiver: the group's stream (or
    /// `join_all`) when awaiting the handle, or the handle when the group reports it.
    AlreadyTaken {
        /// The name given to [`spawn`](super::TaskGroup::spawn).
        name: String,
    },
}

impl<E> ChildError<E> {
    /// The name of the child this error is about.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let group = TaskGroup::<(), &str>::new(&rt);
    /// group.spawn("loader", async { Err("missing file") });
    /// let err = group.join_all().await.unwrap_err();
    /// assert_eq!(err.first.name(), "loader");
    /// # });
    /// ```
    pub fn name(&self) -> &str {
        match self {
            ChildError::Failed { name, .. }
            | ChildError::Panicked { name, .. }
            | ChildError::Cancelled { name }
            | ChildError::AlreadyTaken { name } => name,
        }
    }

    /// Whether the child was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let group = TaskGroup::<(), ()>::new(&rt);
    /// let child = group.spawn("poller", std::future::pending());
    /// child.cancel();
    /// let err = child.await.unwrap_err();
    /// assert!(err.is_cancelled());
    /// assert!(!err.is_panic());
    /// # });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, ChildError::Cancelled { .. })
    }

    /// Whether the child panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let mut group = TaskGroup::<(), String>::new(&rt);
    /// group.spawn("parser", async { panic!("bad input") });
    /// let err = group.next().await.unwrap().unwrap_err();
    /// assert!(err.is_panic());
    /// assert_eq!(err.name(), "parser");
    /// # });
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, ChildError::Panicked { .. })
    }

    /// The child's own error, if it returned one.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::task::ChildError;
    ///
    /// let failed = ChildError::Failed { name: "fetch".into(), error: 404 };
    /// assert_eq!(failed.into_error(), Some(404));
    /// let cancelled = ChildError::<u16>::Cancelled { name: "fetch".into() };
    /// assert_eq!(cancelled.into_error(), None);
    /// ```
    pub fn into_error(self) -> Option<E> {
        match self {
            ChildError::Failed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Re-raises a caught panic on the current thread; returns the error unchanged otherwise.
    ///
    /// The payload is the panic's message as a `String`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::panic::catch_unwind;
    /// use uno_core::task::ChildError;
    ///
    /// let cancelled = ChildError::<()>::Cancelled { name: "poller".into() };
    /// assert!(cancelled.resume_panic().is_cancelled()); // not a panic: given back
    ///
    /// let panicked = ChildError::<()>::Panicked { name: "parser".into(), message: "boom".into() };
    /// let payload = catch_unwind(|| panicked.resume_panic()).unwrap_err();
    /// assert_eq!(payload.downcast_ref::<String>().unwrap(), "boom");
    /// ```
    pub fn resume_panic(self) -> Self {
        match self {
            ChildError::Panicked { message, .. } => std::panic::resume_unwind(Box::new(message)),
            other => other,
        }
    }

    /// Whether this outcome counts as a failure of the group (an error or a panic).
    pub(crate) fn is_failure(&self) -> bool {
        matches!(
            self,
            ChildError::Failed { .. } | ChildError::Panicked { .. }
        )
    }
}

impl<E: fmt::Display> fmt::Display for ChildError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildError::Failed { name, error } => write!(f, "task `{name}` failed: {error}"),
            ChildError::Panicked { name, message } => write!(
                f,
                "task `{name}` panicked: {message} (call resume_panic() to re-raise it)"
            ),
            ChildError::Cancelled { name } => write!(f, "task `{name}` was cancelled"),
            ChildError::AlreadyTaken { name } => write!(
                f,
                "the outcome of task `{name}` was already taken: await either its handle or the \
                 group's results, not both"
            ),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ChildError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ChildError::Failed { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The failure of a whole [`TaskGroup`](super::TaskGroup): the first child error, and every other
/// one, in completion order. None is lost.
///
/// Cancellations are not failures: the siblings a fail-fast group cancels do not appear here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupError<E> {
    /// The first child that failed or panicked; in fail-fast mode, the one that cancelled the rest.
    pub first: ChildError<E>,
    /// Every later failure or panic, in completion order.
    pub others: Vec<ChildError<E>>,
}

impl<E> GroupError<E> {
    /// All the errors, the first one first.
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
    /// let group = TaskGroup::<(), &str>::builder(&rt).supervisor().build().unwrap();
    /// group.spawn("a", async { Err("disk") });
    /// group.spawn("b", async { Err("network") });
    /// let errors = group.join_all().await.unwrap_err().into_errors();
    /// let errors: Vec<_> = errors.into_iter().filter_map(ChildError::into_error).collect();
    /// assert_eq!(errors, ["disk", "network"]);
    /// # });
    /// ```
    pub fn into_errors(self) -> Vec<ChildError<E>> {
        let mut all = Vec::with_capacity(1 + self.others.len());
        all.push(self.first);
        all.extend(self.others);
        all
    }

    /// The names of the failed children, in completion order.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let group = TaskGroup::<(), &str>::builder(&rt).supervisor().build().unwrap();
    /// group.spawn("a", async { Err("disk") });
    /// group.spawn("ok", async { Ok(()) });
    /// group.spawn("c", async { Err("network") });
    /// assert_eq!(group.join_all().await.unwrap_err().names(), ["a", "c"]);
    /// # });
    /// ```
    pub fn names(&self) -> Vec<&str> {
        std::iter::once(&self.first)
            .chain(&self.others)
            .map(ChildError::name)
            .collect()
    }

    /// Re-raises the first caught panic among the errors; returns the error unchanged if no child
    /// panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::panic::{AssertUnwindSafe, catch_unwind};
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let group = TaskGroup::<(), &str>::builder(&rt).supervisor().build().unwrap();
    /// group.spawn("a", async { Err("failed") });
    /// group.spawn("b", async { panic!("boom") });
    /// let err = group.join_all().await.unwrap_err();
    /// let payload = catch_unwind(AssertUnwindSafe(|| err.resume_panic())).unwrap_err();
    /// assert_eq!(payload.downcast_ref::<String>().unwrap(), "boom");
    /// # });
    /// ```
    pub fn resume_panic(self) -> Self {
        let all = self.into_errors();
        let all: Vec<_> = all.into_iter().map(ChildError::resume_panic).collect();
        let mut all = all.into_iter();
        let first = all.next().expect("a GroupError holds at least one error");
        GroupError {
            first,
            others: all.collect(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first)?;
        match self.others.len() {
            0 => Ok(()),
            1 => write!(f, " (and 1 more error: {})", self.others[0]),
            n => write!(f, " (and {n} more errors; see GroupError::others)"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for GroupError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.first)
    }
}

/// Invalid configuration of a [`TaskGroup`](super::TaskGroup), reported by
/// [`TaskGroupBuilder::build`](super::TaskGroupBuilder::build).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupConfigError {
    /// `max_concurrency(0)`: no child could ever run.
    ZeroConcurrency,
    /// `max_concurrency(n)` with `n` above what the limiting semaphore holds (`u32::MAX`).
    ConcurrencyTooLarge {
        /// The requested bound.
        requested: usize,
    },
}

impl fmt::Display for GroupConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupConfigError::ZeroConcurrency => f.write_str(
                "max_concurrency(0) would never run a child: pass at least 1, or leave the group \
                 unbounded",
            ),
            GroupConfigError::ConcurrencyTooLarge { requested } => write!(
                f,
                "max_concurrency({requested}) is above {}: pass a smaller bound, or leave the \
                 group unbounded",
                u32::MAX
            ),
        }
    }
}

impl std::error::Error for GroupConfigError {}
