//! Closing resources: one resource within its time limit, panics contained, and a whole stack
//! last-first. What managers and context groups share, with the metrics and events of a close.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use crate::lifecycle::{AsyncClose, CloseError, Named, ResourceError};
use crate::observe::{Counter, Gauge, Histogram, Name, event};
use crate::panic::{self, Contained};
use crate::rt::Runtime;

/// The closing side of a manager or a context group: its name and the metric handles of its
/// closes, registered once when it is built.
#[derive(Clone, Debug)]
pub(crate) struct Closer {
    pub(crate) name: Name,
    /// Resources registered (or entered) and not yet taken for closing.
    pub(crate) resources: Gauge,
    closed_ok: Counter,
    closed_error: Counter,
    closed_timeout: Counter,
    close_duration: Histogram,
}

impl Closer {
    pub(crate) fn new(name: Name) -> Self {
        let closes = |outcome| Counter::new(CLOSES, &name, &[("outcome", outcome)]);
        Closer {
            resources: Gauge::new(RESOURCES, &name, &[]),
            closed_ok: closes("ok"),
            closed_error: closes("error"),
            closed_timeout: closes("timeout"),
            close_duration: Histogram::new(CLOSE_DURATION, &name, &[]),
            name,
        }
    }

    /// Closes one resource within `limit`, whatever its close does: a panic in `close` itself, in
    /// a poll of its future or in the future's `Drop` is [`CloseError::Panicked`]; a close still
    /// running at the limit is dropped. Counted and traced.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) async fn close_one(
        &self,
        rt: &Runtime,
        resource_name: &str,
        resource: &dyn AsyncClose,
        limit: Duration,
    ) -> Result<(), CloseError> {
        let start = rt.now();
        let outcome = match panic::call(|| resource.close()) {
            Ok(future) => run_bounded(rt, limit, "close", future)
                .await
                .and_then(|closed| closed.map_err(CloseError::Failed)),
            Err(message) => Err(CloseError::Panicked { message }),
        };
        let elapsed = rt.now().saturating_duration_since(start);
        self.close_duration.record_duration(elapsed);
        match &outcome {
            Ok(()) => {
                self.closed_ok.increment(1);
                event!(
                    debug,
                    "uno_core::lifecycle",
                    name = %self.name,
                    resource = resource_name,
                    ?elapsed,
                    "resource closed"
                );
            }
            Err(error) if error.is_timeout() => {
                self.closed_timeout.increment(1);
                event!(
                    warn,
                    "uno_core::lifecycle",
                    name = %self.name,
                    resource = resource_name,
                    ?limit,
                    "resource close timed out"
                );
            }
            Err(error) => {
                self.closed_error.increment(1);
                event!(
                    warn,
                    "uno_core::lifecycle",
                    name = %self.name,
                    resource = resource_name,
                    ?elapsed,
                    error = %crate::lifecycle::error::Chain(error),
                    "resource close failed"
                );
            }
        }
        outcome
    }

    /// Closes `resources` last-first, every one of them, returning the names closed and the
    /// failures. The resources were already taken (the gauge counts them out).
    pub(crate) async fn close_all_lifo(
        &self,
        rt: &Runtime,
        mut resources: Vec<Named>,
        limit: Duration,
    ) -> (Vec<String>, Vec<ResourceError>) {
        let mut closed = Vec::new();
        let mut failed = Vec::new();
        while let Some((name, resource)) = resources.pop() {
            match self.close_one(rt, &name, &*resource, limit).await {
                Ok(()) => closed.push(name),
                Err(error) => failed.push(ResourceError { name, error }),
            }
        }
        (closed, failed)
    }
}

/// Runs `future` within `limit` with its panics contained: a panic in a poll, or in the future's
/// `Drop` (when it completes or when the time limit drops it), becomes [`CloseError::Panicked`];
/// a future still running at the limit is dropped and [`CloseError::TimedOut`] returned.
pub(crate) async fn run_bounded<F: Future>(
    rt: &Runtime,
    limit: Duration,
    what: &'static str,
    future: F,
) -> Result<F::Output, CloseError> {
    let mut future = pin!(Contained::new(future));
    let outcome = rt.timeout(limit, what, future.as_mut()).await;
    match outcome {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(message)) => Err(CloseError::Panicked { message }),
        // A panic while dropping the abandoned future is the more specific fault: report it.
        Err(elapsed) => match future.as_mut().cancel() {
            Ok(()) => Err(CloseError::TimedOut(elapsed)),
            Err(message) => Err(CloseError::Panicked { message }),
        },
    }
}

pub(crate) const RESOURCES: &str = "uno_lifecycle_resources";
pub(crate) const CLOSES: &str = "uno_lifecycle_closes_total";
pub(crate) const CLOSE_DURATION: &str = "uno_lifecycle_close_duration_seconds";
pub(crate) const SHUTDOWN_DURATION: &str = "uno_lifecycle_shutdown_duration_seconds";
