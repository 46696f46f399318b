//! [`CircuitBreakerBuilder`]: the breaker's configuration, checked once at build time.

use crate::loom::Arc;
use std::fmt;
use std::time::Duration;

use super::state::{Inner, Listener, Settings};
use super::window::Window;
use super::{CircuitBreaker, StateChange};
use crate::observe::Name;
use crate::resilience::ConfigError;
use crate::rt::Runtime;

/// Builds a [`CircuitBreaker`]; from [`CircuitBreaker::builder`].
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct CircuitBreakerBuilder {
    rt: Runtime,
    name: Option<std::sync::Arc<str>>,
    threshold: f64,
    window: WindowKind,
    minimum_calls: u32,
    open_duration: Duration,
    probes: u32,
    slow_call: Option<Duration>,
    listener: Option<Box<Listener>>,
}

#[derive(Debug, Clone, Copy)]
enum WindowKind {
    Count(u32),
    Time(Duration),
}

impl CircuitBreakerBuilder {
    /// The defaults; see [`CircuitBreaker::builder`].
    pub(super) fn new(rt: &Runtime) -> Self {
        CircuitBreakerBuilder {
            rt: rt.clone(),
            name: None,
            threshold: 0.5,
            window: WindowKind::Count(20),
            minimum_calls: 10,
            open_duration: Duration::from_secs(30),
            probes: 3,
            slow_call: None,
            listener: None,
        }
    }

    /// Names the breaker, for its errors ([`CircuitOpen`](crate::resilience::CircuitOpen)),
    /// metrics and events. Default: `"circuit_breaker"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::CircuitBreaker;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt).name("payments").build().unwrap();
    /// assert_eq!(breaker.name(), "payments");
    /// ```
    pub fn name(mut self, name: impl Into<std::sync::Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The failure rate, in `(0, 1]`, at which the breaker opens. Default 0.5.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, ConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt)
    ///     .failure_rate_threshold(1.0) // open only when every call fails
    ///     .count_window(2)
    ///     .minimum_calls(2)
    ///     .build()
    ///     .unwrap();
    /// breaker.try_acquire().unwrap().success();
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    /// let err = CircuitBreaker::builder(&rt).failure_rate_threshold(1.5).build().unwrap_err();
    /// assert!(matches!(err, ConfigError::InvalidRatio { value: 1.5, .. }));
    /// ```
    pub fn failure_rate_threshold(mut self, ratio: f64) -> Self {
        self.threshold = ratio;
        self
    }

    /// Computes the failure rate over the last `calls` calls. Default 20.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, ConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt).count_window(3).minimum_calls(3).build().unwrap();
    /// for _ in 0..3 {
    ///     breaker.try_acquire().unwrap().success();
    /// }
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.state(), CircuitState::Open); // 2 of the last 3 failed (2 of 5 overall)
    /// let err = CircuitBreaker::builder(&rt).count_window(0).minimum_calls(1).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "circuit breaker count_window" });
    /// ```
    pub fn count_window(mut self, calls: u32) -> Self {
        self.window = WindowKind::Count(calls);
        self
    }

    /// Computes the failure rate over the calls of the last `window` of time (sliding in steps of
    /// a tenth of it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt)
    ///     .time_window(Duration::from_secs(60))
    ///     .minimum_calls(2)
    ///     .build()
    ///     .unwrap();
    /// breaker.try_acquire().unwrap().failure();
    /// vrt.clock().advance(Duration::from_secs(120)); // that failure has left the window
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.state(), CircuitState::Closed); // one call in the window: too few
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// ```
    pub fn time_window(mut self, window: Duration) -> Self {
        self.window = WindowKind::Time(window);
        self
    }

    /// The fewest calls in the window before the rate is evaluated. Default 10.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, ConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt).minimum_calls(3).build().unwrap();
    /// breaker.try_acquire().unwrap().failure();
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.state(), CircuitState::Closed); // 100 % failures, but only 2 calls
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// let err = CircuitBreaker::builder(&rt).minimum_calls(0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "circuit breaker minimum_calls" });
    /// ```
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = calls;
        self
    }

    /// How long the breaker stays open before letting probes through. Default 30 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt)
    ///     .count_window(1)
    ///     .minimum_calls(1)
    ///     .open_duration(Duration::from_secs(5))
    ///     .build()
    ///     .unwrap();
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.try_acquire().unwrap_err().retry_after, Some(Duration::from_secs(5)));
    /// vrt.clock().advance(Duration::from_secs(5));
    /// let probe = breaker.try_acquire().unwrap(); // the open duration is over
    /// assert_eq!(breaker.state(), CircuitState::HalfOpen);
    /// # drop(probe);
    /// ```
    pub fn open_duration(mut self, duration: Duration) -> Self {
        self.open_duration = duration;
        self
    }

    /// How many probe calls half-open lets through (and waits for) before deciding. Default 3.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt)
    ///     .count_window(1)
    ///     .minimum_calls(1)
    ///     .half_open_probes(2)
    ///     .build()
    ///     .unwrap();
    /// breaker.try_acquire().unwrap().failure();
    /// vrt.clock().advance(Duration::from_secs(30));
    /// let (a, b) = (breaker.try_acquire().unwrap(), breaker.try_acquire().unwrap());
    /// assert_eq!(breaker.try_acquire().unwrap_err().retry_after, None); // both slots taken
    /// a.success();
    /// b.success();
    /// assert_eq!(breaker.state(), CircuitState::Closed); // both probes succeeded
    /// ```
    pub fn half_open_probes(mut self, probes: u32) -> Self {
        self.probes = probes;
        self
    }

    /// Counts a success that took `threshold` or longer as a failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let breaker = CircuitBreaker::builder(&rt)
    ///     .count_window(1)
    ///     .minimum_calls(1)
    ///     .slow_call(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// let slow = breaker.run(|| async {
    ///     rt.sleep(Duration::from_secs(5)).await;
    ///     Ok::<_, ()>(())
    /// });
    /// assert_eq!(slow.await, Ok(())); // the caller still gets its value…
    /// assert_eq!(breaker.state(), CircuitState::Open); // …but the breaker counted a failure
    /// assert!(CircuitBreaker::builder(&rt).slow_call(Duration::ZERO).build().is_err());
    /// # });
    /// ```
    pub fn slow_call(mut self, threshold: Duration) -> Self {
        self.slow_call = Some(threshold);
        self
    }

    /// Calls `listener` on every state change (outside the breaker's lock; keep it short).
    ///
    /// A panic in `listener` propagates to the caller whose call made the change, once the change
    /// is complete; the breaker stays usable (see [`CircuitBreaker`], "Panics").
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let changes = Arc::new(Mutex::new(Vec::new()));
    /// let log = changes.clone();
    /// let breaker = CircuitBreaker::builder(&rt)
    ///     .count_window(1)
    ///     .minimum_calls(1)
    ///     .on_state_change(move |change| log.lock().unwrap().push(change))
    ///     .build()
    ///     .unwrap();
    /// breaker.try_acquire().unwrap().failure();
    /// let changes = changes.lock().unwrap();
    /// assert_eq!((changes[0].from, changes[0].to), (CircuitState::Closed, CircuitState::Open));
    /// ```
    pub fn on_state_change(
        mut self,
        listener: impl Fn(StateChange) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Box::new(listener));
        self
    }

    /// Builds the breaker.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidRatio`] for a threshold that is NaN or outside `(0, 1]`;
    /// [`ConfigError::Zero`] for a zero window, minimum, open duration, probe count or slow-call
    /// threshold; [`ConfigError::MinimumCallsExceedWindow`] when a count window is smaller than
    /// `minimum_calls`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, ConfigError};
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt)
    ///     .failure_rate_threshold(0.25)
    ///     .time_window(Duration::from_secs(60))
    ///     .open_duration(Duration::from_secs(10))
    ///     .build();
    /// assert!(breaker.is_ok());
    /// let err = CircuitBreaker::builder(&rt).half_open_probes(0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "circuit breaker half_open_probes" });
    /// let err = CircuitBreaker::builder(&rt).open_duration(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "circuit breaker open_duration" });
    /// ```
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(ConfigError::InvalidRatio {
                what: "circuit breaker failure_rate_threshold",
                value: self.threshold,
            });
        }
        let zero = |what| Err(ConfigError::Zero { what });
        if self.minimum_calls == 0 {
            return zero("circuit breaker minimum_calls");
        }
        if self.open_duration.is_zero() {
            return zero("circuit breaker open_duration");
        }
        if self.probes == 0 {
            return zero("circuit breaker half_open_probes");
        }
        if self.slow_call.is_some_and(|d| d.is_zero()) {
            return zero("circuit breaker slow_call threshold");
        }
        let window = match self.window {
            WindowKind::Count(0) => return zero("circuit breaker count_window"),
            WindowKind::Count(n) if n < self.minimum_calls => {
                return Err(ConfigError::MinimumCallsExceedWindow {
                    minimum_calls: self.minimum_calls,
                    window: n,
                });
            }
            WindowKind::Count(n) => Window::count(n),
            WindowKind::Time(d) if d.is_zero() => return zero("circuit breaker time_window"),
            WindowKind::Time(d) => Window::time(d),
        };
        let name = match self.name {
            Some(name) => Name::new(name),
            None => Name::kind("circuit_breaker"),
        };
        let settings = Settings {
            rt: self.rt,
            name,
            threshold: self.threshold,
            minimum_calls: self.minimum_calls,
            open_duration: self.open_duration,
            probes: self.probes,
            slow_call: self.slow_call,
            listener: self.listener,
        };
        Ok(CircuitBreaker {
            inner: Arc::new(Inner::new(settings, window)),
        })
    }
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("name", &self.name)
            .field("failure_rate_threshold", &self.threshold)
            .field("window", &self.window)
            .field("minimum_calls", &self.minimum_calls)
            .field("open_duration", &self.open_duration)
            .field("half_open_probes", &self.probes)
            .field("slow_call", &self.slow_call)
            .finish_non_exhaustive()
    }
}
