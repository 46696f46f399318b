use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::lifecycle::{
    AsyncClose, ContextCloseError, DEFAULT_CLOSE_TIMEOUT, LifecycleError, Named, close_all_lifo,
    close_one,
};
use crate::rt::Runtime;

/// An async exit stack (Python's `AsyncExitStack`): [`enter`](Self::enter) resources, and they are
/// closed **last in, first out** — all of them, even when a close fails, with every error
/// collected.
///
/// Close explicitly with [`close`](Self::close) to see the errors. On every other exit path — an
/// early `return`, `?`, a panic, or the owning future being cancelled — **dropping the group closes
/// what is left** in a detached task on its runtime (LIFO, each within the close timeout); those
/// errors cannot be reported to anyone and are discarded.
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
}

impl AsyncContextGroup {
    /// An empty stack on `rt`; each close gets [`DEFAULT_CLOSE_TIMEOUT`].
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
        AsyncContextGroup {
            rt: rt.clone(),
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            stack: Mutex::new(Vec::new()),
        }
    }

    /// An empty stack whose closes each get `close_timeout`.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::ZeroCloseTimeout`] for a zero duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::{AsyncContextGroup, LifecycleError, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let zero = AsyncContextGroup::with_close_timeout(&rt, Duration::ZERO);
    /// assert_eq!(zero.unwrap_err(), LifecycleError::ZeroCloseTimeout);
    ///
    /// let stack = AsyncContextGroup::with_close_timeout(&rt, Duration::from_secs(2)).unwrap();
    /// stack.enter_named("hung", on_close(|| std::future::pending()));
    /// let err = vrt.block_on(stack.close()).unwrap_err();
    /// assert!(err.errors[0].error.is_timeout()); // given up after 2 seconds
    /// ```
    pub fn with_close_timeout(
        rt: &Runtime,
        close_timeout: Duration,
    ) -> Result<Self, LifecycleError> {
        if close_timeout.is_zero() {
            return Err(LifecycleError::ZeroCloseTimeout);
        }
        Ok(AsyncContextGroup {
            rt: rt.clone(),
            close_timeout,
            stack: Mutex::new(Vec::new()),
        })
    }

    fn stack(&self) -> MutexGuard<'_, Vec<Named>> {
        self.stack.lock().unwrap_or_else(|e| e.into_inner())
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
            if let Err(error) = close_one(&self.rt, &name, &*resource, self.close_timeout).await {
                errors.push(crate::lifecycle::ResourceError { name, error });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ContextCloseError { errors })
        }
    }
}

impl Drop for AsyncContextGroup {
    fn drop(&mut self) {
        let left = std::mem::take(&mut *self.stack());
        if left.is_empty() {
            return;
        }
        let rt = self.rt.clone();
        let limit = self.close_timeout;
        // Detached: nobody is left to await it, and the resources must still be released.
        self.rt
            .spawn(async move {
                let _ = close_all_lifo(&rt, left, limit).await;
            })
            .detach();
    }
}

impl fmt::Debug for AsyncContextGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.stack().iter().map(|(n, _)| n.clone()).collect();
        f.debug_struct("AsyncContextGroup")
            .field("entered", &names)
            .field("close_timeout", &self.close_timeout)
            .finish()
    }
}
