//! [`BulkheadBuilder`]: the bulkhead's configuration, checked once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::Duration;

use super::Bulkhead;
use super::policy::{Inner, Metrics};
use crate::observe::Name;
use crate::resilience::ConfigError;
use crate::rt::Runtime;
use crate::sync::AsyncSemaphore;

/// Builds a [`Bulkhead`]; from [`Bulkhead::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct BulkheadBuilder {
    rt: Runtime,
    max_concurrent: u32,
    max_queue: Option<usize>,
    max_wait: Option<Duration>,
    name: Option<Arc<str>>,
}

impl BulkheadBuilder {
    /// See [`Bulkhead::builder`].
    pub(super) fn new(rt: &Runtime, max_concurrent: u32) -> Self {
        BulkheadBuilder {
            rt: rt.clone(),
            max_concurrent,
            max_queue: None,
            max_wait: None,
            name: None,
        }
    }

    /// Names the bulkhead, for its errors ([`BulkheadRejected`](crate::resilience::BulkheadRejected)),
    /// metrics and events. Default: `"bulkhead"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Bulkhead;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let bulkhead = Bulkhead::builder(&rt, 4).name("reports").build().unwrap();
    /// assert_eq!(bulkhead.name(), "reports");
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
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
    /// let bulkhead = Bulkhead::builder(&rt, 1).max_queue(0).build().unwrap();
    /// let _busy = bulkhead.try_acquire().unwrap();
    /// let err = bulkhead.acquire().await.unwrap_err(); // does not wait at all
    /// assert!(matches!(err, BulkheadRejected::QueueFull { max_queue: 0, .. }));
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
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let bulkhead = Bulkhead::builder(&rt, 4).max_wait(Duration::from_millis(250)).build();
    /// assert!(bulkhead.is_ok());
    /// let err = Bulkhead::builder(&rt, 4).max_wait(Duration::ZERO).build().unwrap_err();
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
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let bulkhead = Bulkhead::builder(&rt, 3).max_queue(10).max_wait(Duration::from_secs(1));
    /// assert_eq!(bulkhead.build().unwrap().max_concurrent(), 3);
    /// let err = Bulkhead::builder(&rt, 0).build().unwrap_err();
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
        let name = match self.name {
            Some(name) => Name::new(name),
            None => Name::kind("bulkhead"),
        };
        let metrics = Metrics::new(&name);
        Ok(Bulkhead {
            inner: Arc::new(Inner {
                rt: self.rt,
                name,
                metrics,
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
