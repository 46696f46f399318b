//! The timeout policy: Uno's `@timeout_handler(seconds, message)` as a reusable value.

use std::borrow::{Borrow, Cow};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use std::sync::Arc;

use crate::observe::{Counter, Name, event};
use crate::resilience::{ConfigError, ResilienceError};
use crate::rt::Runtime;
use crate::time::{Elapsed, Expiring, Limit, MonotonicClock, deadline_after};

/// A time limit and the message reported when it is exceeded (Uno's `timeout_handler`), on the
/// [`Runtime`] it was built with.
///
/// Used alone through [`run`](Self::run), or in a [`Pipeline`](super::Pipeline) as the overall
/// limit or the per-attempt limit. At expiry the operation's future is dropped (cancelled) and the
/// call fails with [`Elapsed`], whose message names the policy (when it was given a name) and
/// says the policy's message: `invoice: fetching the invoice: timed out after 5s`.
///
/// # Panics
///
/// A panic in the operation — in its `poll`, or in its `Drop`, also when the timeout drops it at
/// expiry — propagates out of `run` unchanged; the policy holds no state and is unaffected.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::TimeoutPolicy;
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let limit = TimeoutPolicy::builder(&rt, Duration::from_secs(5))
///     .message("fetching the invoice")
///     .build()
///     .unwrap();
/// vrt.block_on(async move {
///     let slow = limit
///         .run(|| async {
///             rt.sleep(Duration::from_secs(60)).await;
///             Ok::<_, &str>(())
///         })
///         .await;
///     let err = slow.unwrap_err();
///     assert!(err.is_timeout());
///     assert_eq!(err.to_string(), "fetching the invoice: timed out after 5s");
/// });
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutPolicy {
    rt: Runtime,
    /// The timer's cheap clock, if it lends one: a limit starts on it (no `Instant` read on the
    /// happy path) and becomes an `Instant` only when the future is found pending.
    clock: Option<MonotonicClock>,
    duration: Duration,
    message: Cow<'static, str>,
    name: Name,
    /// The message of the [`Elapsed`] error: the name (if given) and the message.
    reported: Cow<'static, str>,
    expired: Counter,
}

/// Builds a [`TimeoutPolicy`]; from [`TimeoutPolicy::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct TimeoutPolicyBuilder {
    rt: Runtime,
    duration: Duration,
    message: Cow<'static, str>,
    name: Option<Arc<str>>,
}

impl TimeoutPolicyBuilder {
    /// The message of the [`Elapsed`] error at expiry (Uno's `timeout_handler` message). Default:
    /// none.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::TimeoutPolicy;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let message = format!("loading user {}", 42);
    /// let limit = TimeoutPolicy::builder(&rt, Duration::from_secs(5)).message(message).build();
    /// assert_eq!(limit.unwrap().message(), "loading user 42"); // a `String` or a `&'static str`
    /// ```
    pub fn message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// Names the policy, for its errors, metrics and events. Default: `"timeout"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::TimeoutPolicy;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let limit = TimeoutPolicy::builder(&rt, Duration::from_secs(1))
    ///     .name("invoice")
    ///     .message("fetching the invoice")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(limit.name(), "invoice");
    /// let err = limit.run(|| std::future::pending::<Result<(), &str>>()).await.unwrap_err();
    /// assert_eq!(err.to_string(), "invoice: fetching the invoice: timed out after 1s");
    /// # });
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Builds the policy.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Zero`] for a zero duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ConfigError, TimeoutPolicy};
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limit = TimeoutPolicy::builder(&rt, Duration::from_secs(5)).build().unwrap();
    /// assert_eq!(limit.duration(), Duration::from_secs(5));
    /// let err = TimeoutPolicy::builder(&rt, Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "timeout duration" });
    /// ```
    pub fn build(self) -> Result<TimeoutPolicy, ConfigError> {
        if self.duration.is_zero() {
            return Err(ConfigError::Zero {
                what: "timeout duration",
            });
        }
        let name = match self.name {
            Some(name) => Name::new(name),
            None => Name::kind(KIND),
        };
        Ok(TimeoutPolicy::with_name(
            &self.rt,
            self.duration,
            self.message,
            name,
            KIND,
        ))
    }
}

/// The default name of a timeout policy.
const KIND: &str = "timeout";

impl TimeoutPolicy {
    /// A builder for a limit of `duration` on `rt`'s clock, with no message and the default name.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::TimeoutPolicy;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let limit = TimeoutPolicy::builder(&rt, Duration::from_millis(300)).build().unwrap();
    /// let err = limit.run(|| std::future::pending::<Result<(), &str>>()).await.unwrap_err();
    /// assert_eq!(err.to_string(), "timed out after 300ms"); // no message, no name given
    /// # });
    /// ```
    pub fn builder(rt: &Runtime, duration: Duration) -> TimeoutPolicyBuilder {
        TimeoutPolicyBuilder {
            rt: rt.clone(),
            duration,
            message: Cow::Borrowed(""),
            name: None,
        }
    }

    /// A policy with a checked (non-zero) duration: the builder's, and the pipeline's own
    /// timeouts, which are named after the pipeline. `default` is the owner's default name: a
    /// name left at it is not shown in the error.
    pub(crate) fn with_name(
        rt: &Runtime,
        duration: Duration,
        message: Cow<'static, str>,
        name: Name,
        default: &'static str,
    ) -> Self {
        let reported = match (name.as_str() == default, message.is_empty()) {
            (true, _) => message.clone(),
            (false, true) => Cow::Owned(name.as_str().to_owned()),
            (false, false) => Cow::Owned(format!("{name}: {message}")),
        };
        let expired = Counter::new(EXPIRED, &name, &[]);
        TimeoutPolicy {
            rt: rt.clone(),
            clock: rt.timer().monotonic_clock(),
            duration,
            message,
            name,
            reported,
            expired,
        }
    }

    /// The policy's name (default `"timeout"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::TimeoutPolicy;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limit = TimeoutPolicy::builder(&rt, Duration::from_secs(1)).build().unwrap();
    /// assert_eq!(limit.name(), "timeout");
    /// ```
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The time limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::TimeoutPolicy;
    ///
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    /// let limit = TimeoutPolicy::builder(&rt, Duration::from_millis(1500)).build().unwrap();
    /// assert_eq!(limit.duration(), Duration::from_millis(1500));
    /// ```
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The message given to the builder (the [`Elapsed`] error's message adds the name, if one was
    /// given).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::TimeoutPolicy;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limit = TimeoutPolicy::builder(&rt, Duration::from_secs(5)).message("loading").build();
    /// assert_eq!(limit.unwrap().message(), "loading");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Runs `op` once with this limit.
    ///
    /// # Errors
    ///
    /// [`ResilienceError::Timeout`] at expiry, [`ResilienceError::Inner`] for the operation's error.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as the operation: dropping the future drops the operation's future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ResilienceError, TimeoutPolicy};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let limit = TimeoutPolicy::builder(&rt, Duration::from_secs(1))
    ///     .message("reading the config")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(limit.run(|| async { Ok::<_, &str>(7) }).await, Ok(7));
    /// let failed = limit.run(|| async { Err::<(), _>("no such file") }).await;
    /// assert_eq!(failed, Err(ResilienceError::Inner("no such file")));
    /// let hung = limit.run(|| std::future::pending::<Result<(), &str>>()).await;
    /// assert_eq!(hung.unwrap_err().to_string(), "reading the config: timed out after 1s");
    /// # });
    /// ```
    pub async fn run<T, E, F, Fut>(&self, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_flat(|| async { op().await.map_err(ResilienceError::Inner) })
            .await
    }

    /// As [`run`](Self::run), for an operation that already returns a [`ResilienceError`].
    ///
    /// # Errors
    ///
    /// [`ResilienceError::Timeout`] at expiry; the operation's errors as they are.
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Bulkhead, ResilienceError, TimeoutPolicy};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let limit = TimeoutPolicy::builder(&rt, Duration::from_secs(1)).build().unwrap();
    /// let bulkhead = Bulkhead::builder(&rt, 1).build().unwrap();
    /// let out = limit
    ///     .run_flat(|| bulkhead.run(|| async { Err::<(), _>("boom") }))
    ///     .await;
    /// assert_eq!(out, Err(ResilienceError::Inner("boom"))); // passed through, not nested
    /// # });
    /// ```
    pub async fn run_flat<T, E, F, Fut>(&self, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        self.limit(op()).await
    }

    /// Applies the limit to a future, starting now.
    pub(crate) fn limit<Fut>(&self, fut: Fut) -> Limited<'_, Fut> {
        self.limit_stamped(self.stamp(), fut)
    }

    /// Applies the limit to a future, counting from `start`: a clock reading the caller has
    /// just made, so that stacked policies share one.
    pub(crate) fn limit_from<Fut>(&self, start: Instant, fut: Fut) -> Limited<'_, Fut> {
        self.limit_stamped(Stamp::At(start), fut)
    }

    fn limit_stamped<Fut>(&self, start: Stamp, fut: Fut) -> Limited<'_, Fut> {
        Limited {
            inner: Expiring::new(fut, Held::new(self, start)),
        }
    }

    /// Now, on the cheapest clock that can later be turned into the timer's `Instant`.
    #[inline]
    fn stamp(&self) -> Stamp {
        match self.clock {
            Some(clock) => Stamp::Counter(clock.now_nanos()),
            None => Stamp::At(self.rt.now()),
        }
    }
}

/// When a limit started: an `Instant` of the timer, or a reading of the timer's
/// [`MonotonicClock`] (nanoseconds), turned into an `Instant` only on the slow path (the future
/// pending: the sleep's deadline; expiry: the time elapsed), by going back from the timer's
/// `now()` by the time the counter says has passed.
#[derive(Clone, Copy)]
pub(crate) enum Stamp {
    At(Instant),
    Counter(u64),
}

/// The metric of expired timeouts (see the module's "Metrics").
pub(crate) const EXPIRED: &str = "uno_timeout_expired_total";

/// The [`Limit`] of a policy's timeout: the policy held as `P`, borrowed by [`Limited`] (so the
/// happy path touches no reference count) or shared (an `Arc`) by the `tower` layer's future;
/// the message is cloned only on expiry.
pub(crate) struct Held<P> {
    policy: P,
    start: Stamp,
}

impl<P: Borrow<TimeoutPolicy>> Held<P> {
    /// The limit of `policy`, counting from `start`, a reading of the policy's clock.
    pub(crate) fn new(policy: P, start: Stamp) -> Self {
        Held { policy, start }
    }

    /// The limit of `policy`, counting from `start`, an `Instant` of the policy's timer.
    #[cfg(feature = "tower")]
    pub(crate) fn at(policy: P, start: Instant) -> Self {
        Held::new(policy, Stamp::At(start))
    }
}

/// The limit of a shared policy, counting from now: what the `tower` layer's future holds.
#[cfg(feature = "tower")]
pub(crate) fn shared_limit(policy: &Arc<TimeoutPolicy>) -> Held<Arc<TimeoutPolicy>> {
    Held::new(policy.clone(), policy.stamp())
}

impl<P: Borrow<TimeoutPolicy>> Limit for Held<P> {
    fn runtime(&self) -> &Runtime {
        &self.policy.borrow().rt
    }

    fn start(&self) -> Instant {
        match self.start {
            Stamp::At(start) => start,
            Stamp::Counter(_) => {
                let now = self.policy.borrow().rt.now();
                now.checked_sub(self.elapsed()).unwrap_or(now)
            }
        }
    }

    fn elapsed(&self) -> Duration {
        let policy = self.policy.borrow();
        match self.start {
            Stamp::At(start) => policy.rt.now().saturating_duration_since(start),
            // A counter reading is only made when the policy holds the clock.
            Stamp::Counter(start) => policy.clock.map_or(Duration::ZERO, |clock| {
                Duration::from_nanos(clock.now_nanos().saturating_sub(start))
            }),
        }
    }

    fn deadline(&self) -> Instant {
        deadline_after(self.start(), self.policy.borrow().duration)
    }

    fn expired(&mut self, elapsed: Duration) -> Elapsed {
        let policy = self.policy.borrow();
        // The sleep that fired ran on the timer's clock, so at least the limit has passed there;
        // the cheap counter may lag it by a hair.
        let elapsed = match self.start {
            Stamp::Counter(_) => elapsed.max(policy.duration),
            Stamp::At(_) => elapsed,
        };
        policy.expired.increment(1);
        event!(
            debug,
            "uno_core::resilience",
            name = %policy.name,
            limit = ?policy.duration,
            ?elapsed,
            "timeout expired"
        );
        Elapsed::new(policy.duration)
            .with_message(policy.reported.clone())
            .with_elapsed(elapsed)
    }
}

pin_project_lite::pin_project! {
    /// [`crate::time::Timeout`]'s state machine over a borrowed [`TimeoutPolicy`], with the
    /// policies' error: the operation's own `ResilienceError`s pass through, expiry is
    /// [`ResilienceError::Timeout`].
    pub(crate) struct Limited<'a, Fut> {
        #[pin]
        inner: Expiring<Fut, Held<&'a TimeoutPolicy>>,
    }
}

impl<T, E, Fut> Future for Limited<'_, Fut>
where
    Fut: Future<Output = Result<T, ResilienceError<E>>>,
{
    type Output = Result<T, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let expiring = ready!(self.project().inner.poll_expiring(cx));
        Poll::Ready(expiring.unwrap_or_else(|elapsed| Err(ResilienceError::Timeout(elapsed))))
    }
}
