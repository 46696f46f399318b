//! [`UnoExecutor`]: hyper's [`Executor`](hyper::rt::Executor) on a uno [`Runtime`].

use std::future::Future;

use uno_core::rt::Runtime;

/// hyper's [`Executor`](hyper::rt::Executor) on a uno [`Runtime`]: every future hyper hands it
/// (an HTTP/2 stream, a connection's background task, or a connection you `execute` yourself) is
/// spawned **detached** with [`Runtime::spawn`].
///
/// # Panics in spawned futures
///
/// A future that panics (a service handler that panics inside `serve_connection`, say) is caught
/// by uno's task machinery, the same on every backend: its task ends, the payload is discarded
/// (there is no handle to report it to), and the future is dropped with what it owns — for a
/// connection, its I/O, so the peer sees the connection closed (a hyper client gets a typed
/// `hyper::Error`, such as an incomplete message). For an HTTP/2 stream, which hyper spawns
/// through the executor, only that stream ends: the client sees it reset (`CANCEL`), and the
/// connection and its other streams go on. The runtime, its worker threads and every other
/// connection go on. To observe the panic, spawn the connection yourself with
/// [`Runtime::spawn`] and await its [`Task`](uno_core::Task): it resolves to
/// [`JoinError::Panicked`](uno_core::task::JoinError) with the payload.
///
/// # Examples
///
/// ```
/// use hyper::rt::Executor;
/// use uno_core::rt::VirtualRuntime;
/// use uno_core::sync::AsyncEvent;
/// use uno_hyper::UnoExecutor;
///
/// let vrt = VirtualRuntime::new();
/// let exec = UnoExecutor::new(vrt.handle());
/// let done = AsyncEvent::new();
/// let set = done.clone();
/// exec.execute(async move { set.set() }); // detached: runs with the runtime
/// vrt.block_on(done.wait());
/// assert!(done.is_set());
/// ```
#[derive(Clone, Debug)]
pub struct UnoExecutor {
    rt: Runtime,
}

impl UnoExecutor {
    /// An executor spawning onto `rt`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_core::rt::VirtualRuntime;
    /// let vrt = VirtualRuntime::new();
    /// let exec = uno_hyper::UnoExecutor::new(vrt.handle());
    /// let _server = hyper::server::conn::http2::Builder::new(exec);
    /// ```
    pub fn new(rt: Runtime) -> Self {
        UnoExecutor { rt }
    }

    /// The runtime this executor spawns onto.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_core::rt::VirtualRuntime;
    /// let vrt = VirtualRuntime::new();
    /// let exec = uno_hyper::UnoExecutor::new(vrt.handle());
    /// let task = exec.runtime().spawn(async { 7 });
    /// assert_eq!(vrt.block_on(task).unwrap(), 7);
    /// ```
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }
}

impl<F> hyper::rt::Executor<F> for UnoExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        self.rt.spawn(future).detach();
    }
}
