//! Hand-polling helpers: check wake-ups precisely, with no runtime at all.
//!
//! The other files here are shared modules that a test file declares by itself, so that each test
//! binary compiles only what it uses (and an unused helper is still a warning):
//!
//! ```ignore
//! mod common {
//!     pub(crate) mod capture; // a capturing `tracing` subscriber
//! }
//! ```
//!
//! `capture.rs` serves the tracing tests, `recorder.rs` the metrics tests (a reader of
//! `metrics_util`'s debugging recorder), `chain.rs` the error tests (an error's source chain).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

/// A waker that counts how often it was woken.
#[derive(Default)]
pub(crate) struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker plus its counter.
pub(crate) fn counting_waker() -> (Waker, Arc<CountingWaker>) {
    let counter = Arc::new(CountingWaker::default());
    (Waker::from(counter.clone()), counter)
}

impl CountingWaker {
    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Polls once with `waker`.
pub(crate) fn poll_with<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}
