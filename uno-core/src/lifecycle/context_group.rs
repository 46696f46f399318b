use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::lifecycle::close::Closer;
use crate::lifecycle::{
    AsyncClose, AsyncContextGroupBuilder, ContextCloseError, ContextGroupError,
    DEFAULT_CLOSE_TIMEOUT, Named,
};
use crate::loom::{Mutex, MutexGuard};
use crate::observe::Name;
use crate::panic::{self, Contained};
use crate::rt::Runtime;

/// An async exit stack (Python's `AsyncExitStack`): [`enter`](Self::enter) resources, and they are
/// closed **last in, first out** — all of them, even when a close fails, with every error
/// collected.
///
/// Prefer the scoped form, [`context_group`] (or [`scoped`](Self::scoped) on a group you
/// configured): it closes everything **before it returns**, on every exit path of its body —
/// success, an error left by `?`, a panic — and reports the close errors.
///
/// Used directly, close explicitly with [`close`](Self::close) to see the errors. On every other
/// exit path — an early `return`, `?`, a panic, or the owning future being cancelled — **dropping
/// the group closes what is left** in a detached task on its runtime (LIFO, each within the close
/// timeout). That is a best effort: the caller goes on (and sees its error) before anything is
/// closed, the errors cannot be reported to anyone and are discarded, and nothing is closed if the
/// runtime no longer runs tasks.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use uno_core::lifecycle::{AsyncContextGroup, on_close};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let log = Arc::new(Mutex::new(Vec::new()));
/// vrt.block_on(async {
///     let stack = AsyncContextGroup::new(&rt);
///     for name in ["connection", "transaction"] {
///         let log = log.clone();
///         stack.enter_named(
///             name,
///             on_close(move || {
///                 log.lock().unwrap().push(name);
///                 async { Ok(()) }
///             }),
///         );
///     }
///     stack.close().await.unwrap();
/// });
/// assert_eq!(*log.lock().unwrap(), ["transaction", "connection"]);
/// ```
pub struct AsyncContextGroup {
    rt: Runtime,
    close_timeout: Duration,
    stack: Mutex<Vec<Named>>,
    /// The group's name and the metrics of its closes.
    closer: Closer,
}

impl AsyncContextGroup {
    /// An empty stack on `rt` named `"context_group"`; each close gets
    /// [`DEFAULT_CLOSE_TIMEOUT`]. For another name or close timeout, use
    /// [`builder`](Self::builder).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::{AsyncContextGroup, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let stack = AsyncContextGroup::new(&rt);
    /// stack.enter_named("socket", on_close(|| async { Ok(()) }));
    /// vrt.block_on(stack.close()).unwrap();
    /// assert!(stack.is_empty());
    /// ```
    pub fn new(rt: &Runtime) -> Self {
        Self::from_parts(rt, Name::kind("context_group"), DEFAULT_CLOSE_TIMEOUT)
    }

    /// A builder for a group on `rt`, to set its [name](AsyncContextGroupBuilder::name) (for its
    /// errors, metrics and events) and its
    /// [close timeout](AsyncContextGroupBuilder::close_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::{AsyncContextGroup, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let stack = AsyncContextGroup::builder(&rt)
    ///     .name("request")
    ///     .close_timeout(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// stack.enter_named("hung", on_close(|| std::future::pending()));
    /// let err = vrt.block_on(stack.close()).unwrap_err();
    /// assert_eq!(&*err.name, "request");
    /// assert!(err.errors[0].error.is_timeout()); // given up after 2 seconds
    /// ```
    pub fn builder(rt: &Runtime) -> AsyncContextGroupBuilder {
        AsyncContextGroupBuilder::new(rt)
    }

    /// Builds the group of a checked configuration.
    pub(crate) fn from_parts(rt: &Runtime, name: Name, close_timeout: Duration) -> Self {
        AsyncContextGroup {
            rt: rt.clone(),
            close_timeout,
            stack: Mutex::new(Vec::new()),
            closer: Closer::new(name),
        }
    }

    /// The group's name: `"context_group"` unless given to its
    /// [builder](AsyncContextGroupBuilder::name). It appears in its [`ContextCloseError`], the
    /// `name` label of its metrics and the `name` field of its events.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::AsyncContextGroup;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// assert_eq!(AsyncContextGroup::new(&rt).name(), "context_group");
    /// ```
    pub fn name(&self) -> &str {
        self.closer.name.as_str()
    }

    fn stack(&self) -> MutexGuard<'_, Vec<Named>> {
        self.stack.lock()
    }

    /// Pushes `resource`, named after its type, and gives it back shared.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::{AsyncClose, AsyncContextGroup, CloseFuture};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// struct Pool;
    /// impl AsyncClose for Pool {
    ///     fn close(&self) -> CloseFuture<'_> {
    ///         Box::pin(async { Err("connections still checked out".into()) })
    ///     }
    /// }
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let stack = AsyncContextGroup::new(&rt);
    /// let _pool = stack.enter(Pool); // an `Arc<Pool>` to use meanwhile
    /// let err = vrt.block_on(stack.close()).unwrap_err();
    /// assert!(err.errors[0].name.ends_with("Pool")); // named after its type
    /// ```
    pub fn enter<R: AsyncClose>(&self, resource: R) -> Arc<R> {
        self.enter_named(std::any::type_name::<R>(), resource)
    }

    /// Pushes `resource` under `name` (used in errors) and gives it back shared.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::{AsyncContextGroup, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let stack = AsyncContextGroup::new(&rt);
    /// stack.enter_named("audit-log", on_close(|| async { Err("disk full".into()) }));
    /// let err = vrt.block_on(stack.close()).unwrap_err();
    /// assert_eq!(err.errors[0].name, "audit-log");
    /// ```
    pub fn enter_named<R: AsyncClose>(&self, name: impl Into<String>, resource: R) -> Arc<R> {
        let resource = Arc::new(resource);
        self.stack().push((name.into(), resource.clone()));
        self.closer.resources.increment(1.0);
        resource
    }

    /// How many resources are waiting to be closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::{AsyncContextGroup, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let stack = AsyncContextGroup::new(&rt);
    /// stack.enter_named("connection", on_close(|| async { Ok(()) }));
    /// stack.enter_named("transaction", on_close(|| async { Ok(()) }));
    /// assert_eq!(stack.len(), 2);
    /// vrt.block_on(stack.close()).unwrap();
    /// assert_eq!(stack.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.stack().len()
    }

    /// Whether nothing is waiting to be closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::{AsyncContextGroup, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let stack = AsyncContextGroup::new(&rt);
    /// assert!(stack.is_empty());
    /// stack.enter_named("connection", on_close(|| async { Ok(()) }));
    /// assert!(!stack.is_empty());
    /// # vrt.block_on(stack.close()).unwrap();
    /// ```
    pub fn is_empty(&self) -> bool {
        self.stack().is_empty()
    }

    /// Closes every entered resource, last first, each within the close timeout, and empties the
    /// stack (it can be used again). Every resource is attempted.
    ///
    /// # Errors
    ///
    /// [`ContextCloseError`] with every close that failed, panicked or timed out.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::{AsyncContextGroup, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let stack = AsyncContextGroup::new(&rt);
    /// stack.enter_named("db", on_close(|| async { Ok(()) }));
    /// stack.enter_named("cache", on_close(|| async { Err("flush failed".into()) }));
    /// let err = vrt.block_on(stack.close()).unwrap_err();
    /// assert_eq!(err.errors.len(), 1);
    /// assert_eq!(err.errors[0].name, "cache"); // "db" was closed all the same
    /// assert!(stack.is_empty());
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Resources are taken off the stack one at a time. If the future is dropped, the close in
    /// progress is abandoned (that resource is already off the stack and is not closed again), the
    /// errors collected so far are lost, and the resources not yet reached stay on the stack, to be
    /// closed by a later `close` or by the drop of the group.
    pub async fn close(&self) -> Result<(), ContextCloseError> {
        let mut errors = Vec::new();
        loop {
            let Some((name, resource)) = self.stack().pop() else {
                break;
            };
            self.closer.resources.decrement(1.0);
            let closed = self
                .closer
                .close_one(&self.rt, &name, &*resource, self.close_timeout);
            if let Err(error) = closed.await {
                errors.push(crate::lifecycle::ResourceError { name, error });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ContextCloseError {
                name: self.closer.name.shared(),
                errors,
            })
        }
    }

    /// Runs `body` with a [`ContextScope`] into this group, then closes every resource entered —
    /// last in, first out, each within the close timeout — **before returning**, whatever way the
    /// body ended: see [`context_group`], which is `AsyncContextGroup::new(rt).scoped(body)`.
    ///
    /// Resources entered before the call are closed at the end too.
    ///
    /// # Errors
    ///
    /// [`ContextGroupError::Body`] with the body's error (and the close errors, if any);
    /// [`ContextGroupError::Close`] if the body succeeded but some close did not.
    ///
    /// # Panics
    ///
    /// Re-raises a panic of the body (when called, in a poll, or in its `Drop`) after every
    /// resource has been closed; the payload is the panic message, as a `String`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::{AsyncContextGroup, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// let vrt = VirtualRuntime::new();
    /// let rt = vrt.handle();
    /// vrt.block_on(async {
    ///     let group = AsyncContextGroup::builder(&rt)
    ///         .close_timeout(Duration::from_secs(1))
    ///         .build()
    ///         .unwrap();
    ///     let err = group
    ///         .scoped(|scope| async move {
    ///             scope.enter_named("stuck", on_close(|| std::future::pending()));
    ///             Ok::<_, String>(())
    ///         })
    ///         .await
    ///         .unwrap_err();
    ///     assert!(err.close_error().unwrap().errors[0].error.is_timeout()); // given up after 1 s
    /// });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`context_group`]: dropping the future drops the body and leaves what is not yet
    /// closed to the group's drop, a best effort.
    pub async fn scoped<T, E, F, Fut>(self, body: F) -> Result<T, ContextGroupError<E>>
    where
        F: FnOnce(ContextScope) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let group = Arc::new(self);
        let scope = ContextScope {
            group: group.clone(),
        };
        // The body's panics are caught here and re-raised only once everything is closed.
        let outcome = match panic::call(|| body(scope)) {
            Ok(future) => Contained::new(future).await,
            Err(message) => Err(message),
        };
        let closed = group.close().await;
        match outcome {
            Ok(Ok(value)) => closed.map(|()| value).map_err(ContextGroupError::Close),
            Ok(Err(error)) => Err(ContextGroupError::Body {
                error,
                close: closed.err(),
            }),
            Err(message) => std::panic::resume_unwind(Box::new(message)),
        }
    }
}

impl Drop for AsyncContextGroup {
    fn drop(&mut self) {
        let left = std::mem::take(&mut *self.stack());
        if left.is_empty() {
            return;
        }
        self.closer.resources.decrement(left.len() as f64);
        let (rt, closer) = (self.rt.clone(), self.closer.clone());
        let limit = self.close_timeout;
        // Detached: nobody is left to await it, and the resources must still be released. The
        // failures are still counted and traced by the closer.
        self.rt
            .spawn(async move {
                let _ = closer.close_all_lifo(&rt, left, limit).await;
            })
            .detach();
    }
}

impl fmt::Debug for AsyncContextGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.stack().iter().map(|(n, _)| n.clone()).collect();
        f.debug_struct("AsyncContextGroup")
            .field("name", &self.closer.name)
            .field("entered", &names)
            .field("close_timeout", &self.close_timeout)
            .finish()
    }
}

/// What the body of a [`context_group`] (or [`AsyncContextGroup::scoped`]) enters resources
/// through: a cheap, cloneable handle to the group.
///
/// A clone kept past the end of the scope still works, but what it enters afterwards is only
/// closed when the last handle is dropped — the group's best-effort drop path.
///
/// # Examples
///
/// ```
/// use uno_core::lifecycle::{context_group, on_close};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async {
///     context_group(&rt, |scope| async move {
///         scope.enter_named("socket", on_close(|| async { Ok(()) }));
///         assert_eq!(scope.len(), 1);
///         Ok::<_, String>(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[derive(Clone)]
pub struct ContextScope {
    group: Arc<AsyncContextGroup>,
}

impl ContextScope {
    /// Pushes `resource`, named after its type, and gives it back shared; see
    /// [`AsyncContextGroup::enter`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::{AsyncClose, CloseFuture, context_group};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// struct Pool;
    /// impl AsyncClose for Pool {
    ///     fn close(&self) -> CloseFuture<'_> {
    ///         Box::pin(async { Ok(()) })
    ///     }
    /// }
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// vrt.block_on(context_group(&rt, |scope| async move {
    ///     let _pool = scope.enter(Pool); // an `Arc<Pool>` to use in the body
    ///     Ok::<_, String>(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn enter<R: AsyncClose>(&self, resource: R) -> Arc<R> {
        self.group.enter(resource)
    }

    /// Pushes `resource` under `name` (used in errors) and gives it back shared; see
    /// [`AsyncContextGroup::enter_named`].
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
    ///         scope.enter_named("audit-log", on_close(|| async { Err("disk full".into()) }));
    ///         Ok::<_, String>(())
    ///     }))
    ///     .unwrap_err();
    /// assert_eq!(err.close_error().unwrap().errors[0].name, "audit-log");
    /// ```
    pub fn enter_named<R: AsyncClose>(&self, name: impl Into<String>, resource: R) -> Arc<R> {
        self.group.enter_named(name, resource)
    }

    /// How many resources are waiting to be closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::{context_group, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// vrt.block_on(context_group(&rt, |scope| async move {
    ///     scope.enter_named("connection", on_close(|| async { Ok(()) }));
    ///     scope.enter_named("transaction", on_close(|| async { Ok(()) }));
    ///     assert_eq!(scope.len(), 2);
    ///     Ok::<_, String>(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn len(&self) -> usize {
        self.group.len()
    }

    /// Whether nothing is waiting to be closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::context_group;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// vrt.block_on(context_group(&rt, |scope| async move {
    ///     assert!(scope.is_empty());
    ///     Ok::<_, String>(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn is_empty(&self) -> bool {
        self.group.is_empty()
    }
}

impl fmt::Debug for ContextScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ContextScope").field(&self.group).finish()
    }
}

/// Runs `body` with a [`ContextScope`] into a fresh [`AsyncContextGroup`] on `rt`, then closes
/// every resource the body entered — **last in, first out**, each within
/// [`DEFAULT_CLOSE_TIMEOUT`](super::DEFAULT_CLOSE_TIMEOUT) — **before returning**, on every exit
/// path of the body: its success, an error it returned (by `?` or otherwise), or a panic. This is
/// the scoped form of the async exit stack, as [`task_group`](crate::task::task_group) is of the
/// task group; with Rust's lack of async drop, it is the only form that can promise a caller
/// never sees the body's outcome before the resources are closed.
///
/// - The body's `Ok(value)` is returned once every close succeeded; otherwise
///   [`ContextGroupError::Close`] says which did not (the value is dropped).
/// - The body's `Err(error)` is returned as [`ContextGroupError::Body`], after the closes, with
///   their errors if any.
/// - A panic of the body — when called, in a poll, or in its `Drop` — is caught, every resource is
///   closed, and the panic is **re-raised** (payload: the message, as a `String`); close errors
///   are then discarded.
///
/// For another name or close timeout, use [`AsyncContextGroup::builder`] and
/// [`scoped`](AsyncContextGroup::scoped).
///
/// # Errors
///
/// [`ContextGroupError`]: the body's error, or a close that failed, panicked or timed out.
///
/// # Panics
///
/// Re-raises the body's panic, after closing.
///
/// # Examples
///
/// The `?` leaves the body, and still both resources are closed before the caller sees the error:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use uno_core::lifecycle::{context_group, on_close};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let log = Arc::new(Mutex::new(Vec::new()));
/// vrt.block_on(async {
///     let entered = log.clone();
///     let result = context_group(&rt, |scope| async move {
///         for name in ["connection", "transaction"] {
///             let log = entered.clone();
///             scope.enter_named(name, on_close(move || {
///                 log.lock().unwrap().push(name);
///                 async { Ok(()) }
///             }));
///         }
///         let rows: u32 = "many".parse().map_err(|_| "not a number")?; // leaves the body
///         Ok(rows)
///     })
///     .await;
///     assert_eq!(*log.lock().unwrap(), ["transaction", "connection"]); // closed already
///     assert_eq!(result.unwrap_err().into_body_error(), Some("not a number"));
/// });
/// ```
///
/// # Cancel safety
///
/// Not cancel safe: dropping the returned future drops the body, and what is not closed yet is
/// left to the group's drop — closed in a detached task, a best effort (see
/// [`AsyncContextGroup`]).
pub async fn context_group<T, E, F, Fut>(rt: &Runtime, body: F) -> Result<T, ContextGroupError<E>>
where
    F: FnOnce(ContextScope) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    AsyncContextGroup::new(rt).scoped(body).await
}
