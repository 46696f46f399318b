//! The guard of one admitted call: [`BreakerPermit`] owns its breaker, the crate's
//! [`Admission`] borrows it; both are one [`Permit`].

use crate::loom::Arc;
use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use super::state::{Inner, LazyNow, Ticket};
use crate::resilience::{CircuitOpen, ResilienceError, Verdict};

/// One admitted call, generic over how it holds the breaker (as the semaphore's `Wait`): it
/// reports the call's outcome once, and dropped without reporting it counts nothing and frees
/// the probe slot it may hold.
pub(crate) struct Permit<S: Deref<Target = Inner>> {
    inner: S,
    ticket: Ticket,
    done: bool,
}

/// A [`BreakerPermit`] that borrows its breaker, for calls made within the caller's own future
/// (`run`, the pipeline); from [`CircuitBreaker::admit`](super::CircuitBreaker::admit).
pub(crate) type Admission<'a> = Permit<&'a Inner>;

impl<S: Deref<Target = Inner>> Permit<S> {
    /// Admits one call and guards it. A state change the admission made is announced only once
    /// the guard exists: if the listener panics, dropping the guard frees the probe slot.
    pub(super) fn admit(inner: S, now: &mut LazyNow<'_>) -> Result<Self, CircuitOpen> {
        let (ticket, change) = inner.admit(now)?;
        let permit = Permit {
            inner,
            ticket,
            done: false,
        };
        permit.inner.notify(change);
        Ok(permit)
    }

    /// Reports the call: `Some(failed)`, or `None` for "not counted". `op_time` is the
    /// operation's duration when the caller measured it; otherwise it is measured from the
    /// admission, if a slow-call threshold needs it.
    fn report(mut self, outcome: Option<bool>, op_time: Option<Duration>) {
        self.done = true;
        let now = &mut LazyNow::from(&self.inner.rt);
        let elapsed = match (op_time, self.ticket.start) {
            (Some(elapsed), _) => elapsed,
            (None, Some(start)) => now.get().saturating_duration_since(start),
            (None, None) => Duration::ZERO,
        };
        self.inner.finish(self.ticket, outcome, now, elapsed);
    }

    /// Records a policy result: `Ok` is a success (or slow), `Inner`/`Timeout`/exhausted retries
    /// a failure, anything else is not counted. The clock is read only when something needs it.
    pub(crate) fn record_result<T, E>(
        self,
        result: &Result<T, ResilienceError<E>>,
        op_time: Option<Duration>,
    ) {
        self.record_judged(result, None, op_time);
    }

    /// Records a policy result that a classifier gave `verdict` (`None`: the rules of
    /// [`record_result`](Self::record_result)).
    pub(crate) fn record_judged<T, E>(
        self,
        result: &Result<T, ResilienceError<E>>,
        verdict: Option<Verdict>,
        op_time: Option<Duration>,
    ) {
        if let Some(verdict) = verdict {
            return self.report(verdict.breaker_outcome(), op_time);
        }
        let outcome = match result {
            Ok(_) => Some(false),
            Err(
                ResilienceError::Inner(_)
                | ResilienceError::Timeout(_)
                | ResilienceError::RetriesExhausted { .. },
            ) => Some(true),
            Err(_) => None,
        };
        self.report(outcome, op_time);
    }
}

impl<S: Deref<Target = Inner>> Drop for Permit<S> {
    fn drop(&mut self) {
        if !self.done {
            // No time is needed to record "not counted".
            self.inner
                .finish(self.ticket, None, &mut LazyNow::none(), Duration::ZERO);
        }
    }
}

/// Permission to make one call through a [`CircuitBreaker`](super::CircuitBreaker); report the
/// outcome with [`success`](Self::success) or [`failure`](Self::failure).
///
/// Dropping it without reporting (for example because the caller's future was dropped) counts
/// nothing and frees the probe slot it may hold.
#[must_use = "report the call's outcome with success() or failure()"]
pub struct BreakerPermit {
    permit: Permit<Arc<Inner>>,
}

impl BreakerPermit {
    pub(super) fn new(permit: Permit<Arc<Inner>>) -> Self {
        BreakerPermit { permit }
    }

    /// The call succeeded (a failure if slower than the slow-call threshold, measured from the
    /// permit's creation).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::CircuitBreaker;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt).slow_call(Duration::from_secs(1)).build().unwrap();
    /// breaker.try_acquire().unwrap().success();
    /// let permit = breaker.try_acquire().unwrap();
    /// vrt.clock().advance(Duration::from_secs(3)); // the call takes 3 s
    /// permit.success();
    /// let stats = breaker.stats();
    /// assert_eq!((stats.successes, stats.failures, stats.slow_calls), (1, 1, 1));
    /// ```
    pub fn success(self) {
        self.permit.report(Some(false), None);
    }

    /// The call failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt).count_window(3).minimum_calls(3).build().unwrap();
    /// let permit = breaker.try_acquire().unwrap();
    /// let answer: Result<u32, &str> = Err("connection reset"); // the call we made
    /// match answer {
    ///     Ok(_) => permit.success(),
    ///     Err(_) => permit.failure(),
    /// }
    /// assert_eq!(breaker.stats().failures, 1);
    /// assert_eq!(breaker.state(), CircuitState::Closed); // fewer than `minimum_calls` so far
    /// ```
    pub fn failure(self) {
        self.permit.report(Some(true), None);
    }

    /// Reports the call by a classifier's [`Verdict`]: a success (or slow call) for
    /// [`Verdict::Success`], nothing for [`Verdict::Ignored`] (its probe slot is freed), a failure
    /// otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, Verdict};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let rt = VirtualRuntime::new().handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt).build().unwrap();
    /// breaker.try_acquire().unwrap().record(Verdict::Ignored); // a 404: the server is fine
    /// breaker.try_acquire().unwrap().record(Verdict::Permanent);
    /// let stats = breaker.stats();
    /// assert_eq!((stats.successes, stats.failures, stats.ignored), (0, 1, 1));
    /// ```
    pub fn record(self, verdict: Verdict) {
        self.permit.report(verdict.breaker_outcome(), None);
    }

    /// Reports a call made by a service, whose outcome a classifier judged (`None`: the breaker's
    /// rules for a policy result); `op_time`, the call's own duration when the slow-call clock
    /// must not count the time since admission (the pipeline's waits for its limiter and
    /// bulkhead).
    #[cfg_attr(
        not(feature = "tower"),
        allow(dead_code, reason = "used by the tower layer")
    )]
    pub(crate) fn record_judged<T, E>(
        self,
        result: &Result<T, ResilienceError<E>>,
        verdict: Option<Verdict>,
        op_time: Option<Duration>,
    ) {
        self.permit.record_judged(result, verdict, op_time);
    }
}

impl fmt::Debug for BreakerPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerPermit")
            .field("probe", &self.permit.ticket.probe)
            .finish_non_exhaustive()
    }
}
