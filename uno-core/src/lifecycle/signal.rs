//! Shutdown signals, runtime-neutrally: which [`Signal`] arrived, the [`ShutdownSignal`] future
//! that waits for one, and the [`SignalSource`] an adapter implements to install the handlers.
//!
//! What needs an executor or a reactor — installing the OS handlers with `tokio::signal` or
//! `async-signal` — stays in the adapters (`uno_tokio::signal::OsSignals`,
//! `uno_smol::signal::OsSignals`, `uno_async_std::signal::OsSignals`); everything else is here, once.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The signal that asked the process to stop.
///
/// # Examples
///
/// ```
/// use uno_core::lifecycle::{ShutdownSignal, Signal};
///
/// let signal = ShutdownSignal::new(async { Signal::Terminate });
/// assert_eq!(futures_lite::future::block_on(signal), Signal::Terminate);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (what `kill`, systemd and container runtimes send).
    Terminate,
}

impl Signal {
    /// The signal's conventional name: `"SIGINT"` or `"SIGTERM"` (also its `Display`).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::Signal;
    ///
    /// assert_eq!(Signal::Interrupt.as_str(), "SIGINT");
    /// assert_eq!(Signal::Terminate.to_string(), "SIGTERM");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Completes with the first shutdown [`Signal`] received after its handlers were installed.
///
/// An adapter makes one from its OS listener ([`ShutdownSignal::new`]) when its
/// [`SignalSource::install`] is called, that is when the handlers are installed: a signal received
/// between then and the first poll is not lost. One type for every adapter (the listener inside is
/// boxed once per application).
///
/// # Examples
///
/// ```
/// use uno_core::lifecycle::{ShutdownSignal, Signal};
///
/// // A listener that never fires, as in a test without signals:
/// let never = ShutdownSignal::new(std::future::pending::<Signal>());
/// let polled = futures_lite::future::block_on(futures_lite::future::poll_once(never));
/// assert_eq!(polled, None);
/// ```
///
/// # Cancel safety
///
/// Cancel safe: dropping it removes this listener and nothing else; a signal it has not reported
/// yet is not taken from other listeners.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct ShutdownSignal {
    listener: Pin<Box<dyn Future<Output = Signal> + Send>>,
}

impl ShutdownSignal {
    /// Wraps an installed listener: a future that completes with the signal received.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use std::task::Poll;
    /// use uno_core::lifecycle::{ShutdownSignal, Signal};
    ///
    /// // An adapter polls its OS listener in here.
    /// let signal = ShutdownSignal::new(poll_fn(|_cx| Poll::Ready(Signal::Interrupt)));
    /// assert_eq!(futures_lite::future::block_on(signal), Signal::Interrupt);
    /// ```
    pub fn new(listener: impl Future<Output = Signal> + Send + 'static) -> Self {
        ShutdownSignal {
            listener: Box::pin(listener),
        }
    }
}

impl Future for ShutdownSignal {
    type Output = Signal;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Signal> {
        self.listener.as_mut().poll(cx)
    }
}

impl fmt::Debug for ShutdownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownSignal").finish_non_exhaustive()
    }
}

/// Where shutdown signals come from: what an adapter provides to
/// [`run_application_with`](super::run_application_with) (SIGINT and SIGTERM through its
/// executor's signal support).
///
/// # Examples
///
/// ```
/// use std::io;
/// use uno_core::lifecycle::{ShutdownSignal, Signal, SignalSource};
///
/// /// A source for tests: "SIGTERM" arrives at once.
/// struct TerminateNow;
///
/// impl SignalSource for TerminateNow {
///     fn install(&self) -> io::Result<ShutdownSignal> {
///         Ok(ShutdownSignal::new(async { Signal::Terminate }))
///     }
/// }
///
/// let signal = TerminateNow.install().unwrap();
/// assert_eq!(futures_lite::future::block_on(signal), Signal::Terminate);
/// ```
pub trait SignalSource {
    /// Installs the handlers **now** and returns the future that completes when a signal arrives.
    /// While it is alive, the signals it listens to no longer kill the process.
    ///
    /// # Errors
    ///
    /// The I/O error of installing the handlers (for an adapter that needs to run inside its
    /// executor, also being called outside it: the adapter documents the error it wraps).
    fn install(&self) -> io::Result<ShutdownSignal>;
}
