//! [`BulkheadBuilder`]: the bulkhead's configuration, checked once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::Duration;

use super::Bulkhead;
use super::policy::Inner;
use crate::resilience::ConfigError;
use crate::sync::AsyncSemaphore;

/// Builds a [`Bulkhead`]; from [`Bulkhead::builder`].
#[derive(Debug, Clone)]
pub struct BulkheadBuilder {
    max_concurrent: u32,
    max_queue: Option<usize>,
    max_wait: Option<Duration>,
}

impl BulkheadBuilder {
    /// See [`Bulkhead::builder`].
    pub(super) fn new(max_concurrent: u32) -> Self {
        BulkheadBuilder {
            max_concurrent,
            max_queue: None,
            max_wait: None,
        }
    }

    /// At most `n` callers wait for a slot; more are rejected at once. Zero: never wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Bulkhead, BulkheadRejected};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let bulkhead = Bulkhead::builder(1).max_queue(0).build().unwrap();
    /// let _busy = bulkhead.try_acquire().unwrap();
    /// let err = bulkhead.acquire(&rt).await.unwrap_err(); // does not wait at all
    /// assert_eq!(err, BulkheadRejected::QueueFull { max_queue: 0 });
    /// # });
    /// ```
    pub fn max_queue(mut self, n: usize) -> Self {
        self.max_queue = Some(n);
        self
    }

    /// A caller waits at most `d` for a slot, then is rejected.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Bulkhead, ConfigError};
    ///
    /// let bulkhead = Bulkhead::builder(4).max_wait(Duration::from_millis(250)).build();
    /// assert!(bulkhead.is_ok());
    /// let err = Bulkhead::builder(4).max_wait(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "bulkhead max_wait" }); // use `max_queue(0)`
    /// ```
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = Some(d);
        self
    }

    /// Builds the bulkhead.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Zero`] for zero `max_concurrent` or a zero `max_wait` (use `max_queue(0)`
    /// to never wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Bulkhead, ConfigError};
    ///
    /// let bulkhead = Bulkhead::builder(3).max_queue(10).max_wait(Duration::from_secs(1)).build();
    /// assert_eq!(bulkhead.unwrap().max_concurrent(), 3);
    /// let err = Bulkhead::builder(0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "bulkhead max_concurrent" });
    /// ```
    pub fn build(self) -> Result<Bulkhead, ConfigError> {
        if self.max_concurrent == 0 {
            return Err(ConfigError::Zero {
                what: "bulkhead max_concurrent",
            });
        }
        if self.max_wait.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::Zero {
                what: "bulkhead max_wait",
            });
        }
        Ok(Bulkhead {
            inner: Arc::new(Inner {
                max_concurrent: self.max_concurrent,
                max_queue: self.max_queue,
                max_wait: self.max_wait,
                slots: AsyncSemaphore::new(self.max_concurrent),
                queued: AtomicUsize::new(0),
                in_flight: AtomicUsize::new(0),
                admitted: AtomicU64::new(0),
                rejected_queue_full: AtomicU64::new(0),
                rejected_max_wait: AtomicU64::new(0),
            }),
        })
    }
}
