//! The group's errors: a child's ([`ChildError`]), the group's ([`GroupError`]), and a bad
//! configuration's ([`GroupConfigError`]).

use std::fmt;
use std::sync::Arc;

use crate::task::PanicPayload;
use crate::task::metrics::Outcome;

/// Why a child of a [`TaskGroup`](super::TaskGroup) produced no output. Every variant names the
/// child.
///
/// A panic keeps its original payload ([`try_into_panic`](Self::try_into_panic),
/// [`resume_panic`](Self::resume_panic)), so `ChildError` is neither `Clone` nor comparable; it is
/// `Send + Sync` when `E` is. The child's own error is [`Failed`](Self::Failed)'s `error`, which
/// `Display` leaves out and `source()` returns (std's rule); read it with
/// [`into_error`](Self::into_error) when `E` is not a `std::error::Error`.
#[derive(Debug)]
#[non_exhaustive]
pub enum ChildError<E> {
    /// The child's future returned `Err(error)`.
    Failed {
        /// The name given to [`spawn`](super::TaskGroup::spawn).
        name: String,
        /// The child's own error.
        error: E,
    },
    /// The child panicked; the panic was caught, its message and its payload kept.
    #[non_exhaustive]
    Panicked {
        /// The name given to [`spawn`](super::TaskGroup::spawn).
        name: String,
        /// The panic message (`"<non-string panic payload>"` when it was not a string).
        message: String,
        /// The panic's original payload.
        payload: PanicPayload,
    },
    /// The child was cancelled before it finished: by a failing sibling (fail-fast), by
    /// [`shutdown`](super::TaskGroup::shutdown), by dropping the group, or through its handle.
    Cancelled {
        /// The name given to [`spawn`](super::TaskGroup::spawn).
        name: String,
    },
    /// The child's outcome was already taken by the other receiver: the group's stream (or
    /// `join_all`) when awaiting the handle, or the handle when the group reports it. Await
    /// either a child's handle or the group's results, not both.
    AlreadyTaken {
        /// The name given to [`spawn`](super::TaskGroup::spawn).
        name: String,
    },
}

impl<E> ChildError<E> {
    /// A caught panic of child `name`, by its payload.
    pub(crate) fn panicked(name: String, payload: Box<dyn std::any::Any + Send>) -> Self {
        ChildError::Panicked {
            name,
            message: crate::panic::message_of(&*payload),
            payload: PanicPayload::new(payload),
        }
    }

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
    /// assert_eq!(err.panic_message(), Some("bad input"));
    /// # });
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, ChildError::Panicked { .. })
    }

    /// The panic's message, if the child panicked.
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
    /// let mut group = TaskGroup::<(), ()>::new(&rt);
    /// group.spawn("parser", async { panic!("line {}", 3) });
    /// let err = group.next().await.unwrap().unwrap_err();
    /// assert_eq!(err.panic_message(), Some("line 3"));
    /// # });
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            ChildError::Panicked { message, .. } => Some(message),
            _ => None,
        }
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

    /// The panic's original payload if the child panicked, or the error itself otherwise (as
    /// [`JoinError::try_into_panic`](crate::task::JoinError::try_into_panic)).
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
    /// let mut group = TaskGroup::<(), ()>::new(&rt);
    /// group.spawn("parser", async { std::panic::panic_any(404u16) });
    /// let err = group.next().await.unwrap().unwrap_err();
    /// let payload = err.try_into_panic().unwrap();
    /// assert_eq!(payload.downcast_ref::<u16>(), Some(&404)); // the value itself
    /// # });
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn std::any::Any + Send>, Self> {
        match self {
            ChildError::Panicked { payload, .. } => Ok(payload.into_inner()),
            other => Err(other),
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
    /// use uno_core::task::{ChildError, TaskGroup};
    ///
    /// let cancelled = ChildError::<()>::Cancelled { name: "poller".into() };
    /// assert!(cancelled.resume_panic().is_cancelled()); // not a panic: given back
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let mut group = TaskGroup::<(), ()>::new(&rt);
    /// group.spawn("parser", async { std::panic::panic_any(7u8) });
    /// let panicked = group.next().await.unwrap().unwrap_err();
    /// let payload = catch_unwind(AssertUnwindSafe(|| panicked.resume_panic())).unwrap_err();
    /// assert_eq!(payload.downcast_ref::<u8>(), Some(&7));
    /// # });
    /// ```
    pub fn resume_panic(self) -> Self {
        match self {
            ChildError::Panicked { payload, .. } => payload.resume(),
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

    /// This outcome, as the group's metrics label it.
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            ChildError::Failed { .. } => Outcome::Error,
            ChildError::Panicked { .. } => Outcome::Panicked,
            ChildError::Cancelled { .. } | ChildError::AlreadyTaken { .. } => Outcome::Cancelled,
        }
    }
}

impl<E> fmt::Display for ChildError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The child's own error is the source, not part of this message.
            ChildError::Failed { name, .. } => write!(f, "task \"{name}\" failed"),
            ChildError::Panicked { name, message, .. } => {
                write!(f, "task \"{name}\" panicked: {message}")
            }
            ChildError::Cancelled { name } => write!(f, "task \"{name}\" was cancelled"),
            ChildError::AlreadyTaken { name } => {
                write!(f, "outcome of task \"{name}\" was already taken")
            }
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
/// `Display` names the group and counts the failures; `source()` is the [`first`](Self::first)
/// child error.
#[derive(Debug)]
#[non_exhaustive]
pub struct GroupError<E> {
    /// The name of the group ([`TaskGroupBuilder::name`](super::TaskGroupBuilder::name)).
    pub group: Arc<str>,
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

    /// Re-raises the first caught panic among the errors, with its original payload; returns the
    /// error unchanged if no child panicked.
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
    /// assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    /// # });
    /// ```
    pub fn resume_panic(self) -> Self {
        let GroupError {
            group,
            first,
            others,
        } = self;
        let first = first.resume_panic();
        let others = others.into_iter().map(ChildError::resume_panic).collect();
        GroupError {
            group,
            first,
            others,
        }
    }
}

impl<E> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first failure is the source; this message is the group's own context only.
        let failures = 1 + self.others.len();
        let children = if failures == 1 { "child" } else { "children" };
        write!(
            f,
            "task group \"{}\" failed: {failures} {children} failed",
            self.group
        )
    }
}

impl<E: std::error::Error + 'static> std::error::Error for GroupError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.first)
    }
}

/// Invalid configuration of a [`TaskGroup`](super::TaskGroup), reported by
/// [`TaskGroupBuilder::build`](super::TaskGroupBuilder::build). Pass a bound of at least 1 and at
/// most `u32::MAX`, or leave the group unbounded.
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
            GroupConfigError::ZeroConcurrency => f.write_str("max_concurrency is zero"),
            GroupConfigError::ConcurrencyTooLarge { requested } => write!(
                f,
                "max_concurrency {requested} is above the maximum of {}",
                u32::MAX
            ),
        }
    }
}

impl std::error::Error for GroupConfigError {}
