//! One call's progress through a retry policy: the state machine that decides, after each failed
//! attempt, whether to retry and after which delay.
//!
//! # Implementation notes
//!
//! - **Classification.** A cancellation ends the call at once and is never a failure; the
//!   operation's own errors are retried when the predicate holds; timeouts unless turned off;
//!   refusals (rate limit, bulkhead, open circuit) only when asked, waiting at least their
//!   `retry_after`; anything else is returned as it is.
//! - **Order of the checks** after a retryable failure: attempts left, the delay (the error's
//!   own, else the backoff's, raised to a refusal's `retry_after`), the total deadline, then the
//!   budget. Exhausting any of them ends the call with `RetriesExhausted`.
//! - **A budget token pays only for load that reached the operation.** It is withdrawn when a
//!   retry is decided and held by [`Attempts`] until that retry's attempt calls the operation
//!   ([`Attempts::calling`]); the call dropped in its backoff, a panicking hook or a policy that
//!   refuses the attempt gives it back.
//! - **Attempts are counted by derivation**, so a call that succeeds at once touches two
//!   counters (calls, successes), not three: `attempts = calls + later_attempts − refused −
//!   abandoned_uncalled`. Exact because a call's first attempt begins in the same synchronous
//!   step as the call; the subtracted counters are written with `Release` and read first with
//!   `Acquire`, so a snapshot never subtracts an attempt whose begin it does not see.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::backoff::{Backoff, Jitter};
use super::budget::RetryBudget;
use crate::observe::{Counter, Name, event};
use crate::resilience::{ResilienceError, Verdict};
use crate::rt::Runtime;

pub(super) type Predicate<E> = dyn Fn(&E) -> bool + Send + Sync;
pub(super) type DelayFrom<E> = dyn Fn(&E) -> Option<Duration> + Send + Sync;
pub(super) type OnRetry<E> = dyn Fn(u32, &ResilienceError<E>, Duration) + Send + Sync;

/// The policy clones share: its settings, the jitter source and the counters.
pub(crate) struct Inner<E> {
    pub(super) rt: Runtime,
    pub(super) name: Name,
    pub(super) metrics: Metrics,
    pub(super) max_attempts: u32,
    pub(super) max_duration: Option<Duration>,
    pub(super) backoff: Backoff,
    pub(super) retry_if: Option<Box<Predicate<E>>>,
    pub(super) delay_from: Option<Box<DelayFrom<E>>>,
    pub(super) on_retry: Option<Box<OnRetry<E>>>,
    pub(super) retry_on_timeout: bool,
    pub(super) retry_on_rejection: bool,
    /// The longest delay taken from an outcome that the policy waits (see
    /// [`RetryBuilder::max_retry_after`](super::RetryBuilder::max_retry_after)).
    pub(super) max_retry_after: Option<Duration>,
    pub(super) budget: Option<RetryBudget>,
    pub(super) rng: Jitter,
    pub(super) stats: Counters,
}

/// The policy's metric handles, registered once when it is built.
#[derive(Debug, Default)]
pub(super) struct Metrics {
    attempts: Counter,
    retries: Counter,
    budget_exhausted: Counter,
}

/// The metrics of a retry policy (see the module's "Metrics").
pub(crate) const ATTEMPTS: &str = "uno_retry_attempts_total";
pub(crate) const RETRIES: &str = "uno_retry_retries_total";
pub(crate) const BUDGET_EXHAUSTED: &str = "uno_retry_budget_exhausted_total";

impl Metrics {
    pub(super) fn new(name: &Name) -> Self {
        Metrics {
            attempts: Counter::new(ATTEMPTS, name, &[]),
            retries: Counter::new(RETRIES, name, &[]),
            budget_exhausted: Counter::new(BUDGET_EXHAUSTED, name, &[]),
        }
    }
}

/// The counters behind [`RetryStats`](super::RetryStats).
#[derive(Default)]
pub(super) struct Counters {
    pub(super) calls: AtomicU64,
    /// Attempts after the first of their call. `RetryStats::attempts` is `calls` plus these,
    /// minus the attempts that never called the operation (`refused`, `abandoned_uncalled`), so a
    /// call that succeeds at once pays for two counters (calls, successes), not three. Exact,
    /// because a call's first attempt begins in the same synchronous step as the call.
    pub(super) later_attempts: AtomicU64,
    /// Attempts that ended without calling the operation (a pipeline's breaker or bulkhead
    /// refused it, or its per-attempt timeout expired first): `RetryStats::refused`. Written with
    /// `Release` and read first with `Acquire`, so a snapshot never subtracts an attempt whose
    /// begin it does not see.
    pub(super) refused: AtomicU64,
    /// Attempts whose call was dropped before they called the operation (as `refused`).
    pub(super) abandoned_uncalled: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) successes: AtomicU64,
    pub(super) failures: AtomicU64,
    pub(super) exhausted: AtomicU64,
    pub(super) budget_exhausted: AtomicU64,
    pub(super) cancelled: AtomicU64,
}

pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Bumps a counter subtracted from the derived attempt count (see [`Counters::refused`]).
fn bump_uncalled(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Release);
}

/// One call's progress through the policy, holding the policy as `P`: borrowed ([`Attempts`],
/// for a call within the caller's own future) or owned ([`OwnedAttempts`], for a named future
/// such as the tower service's); one state machine for both.
///
/// A retry's budget token is withdrawn when the retry is decided, and spent only when its
/// attempt calls the operation ([`calling`](Self::calling)). Until then it is held here and goes
/// back to the budget if the attempt never calls it: the call is dropped during the backoff,
/// the hook panics, or a policy inside the pipeline refuses the attempt. So a budget only ever
/// pays for load that reached the operation.
pub(crate) struct AttemptsOf<P: Deref<Target = Inner<E>>, E> {
    policy: P,
    attempt: u32,
    start: Option<Instant>,
    previous: Duration,
    /// Whether the attempt in progress has called the operation (`true` between attempts:
    /// nothing to count then).
    called: bool,
    /// A budget token withdrawn for the next attempt and not spent yet.
    token: bool,
    _error: PhantomData<fn() -> E>,
}

/// A call borrowing its policy.
pub(crate) type Attempts<'a, E> = AttemptsOf<&'a Inner<E>, E>;
/// A call owning (a reference count of) its policy.
pub(crate) type OwnedAttempts<E> = AttemptsOf<Arc<Inner<E>>, E>;

/// What follows a classified attempt: another one after a delay, or the end of the call.
#[derive(Debug)]
pub(crate) enum Step<T, E> {
    /// Retry after this delay.
    Retry(Duration),
    /// The call ends with this result.
    Done(Result<T, ResilienceError<E>>),
}

/// The cap on a `Verdict::RetryAfter` delay when `max_retry_after` is not set.
pub(crate) const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Why a retryable failure is not retried: attempts, the deadline, the budget or the
/// Retry-After cap ran out.
struct Exhausted;

impl<E, P: Deref<Target = Inner<E>>> AttemptsOf<P, E> {
    /// Starts one call: counts it; its first attempt is begun by [`begin`](Self::begin).
    pub(super) fn new(policy: P) -> Self {
        bump(&policy.stats.calls);
        let start = policy.max_duration.map(|_| policy.rt.now());
        AttemptsOf {
            policy,
            attempt: 0,
            start,
            previous: Duration::ZERO,
            called: true, // no attempt in progress yet
            token: false,
            _error: PhantomData,
        }
    }

    /// The number of the attempt in progress: 1 for the first.
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    pub(super) fn max_attempts(&self) -> u32 {
        self.policy.max_attempts
    }

    /// The runtime of the policy: its backoff sleeps on this clock.
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.policy.rt
    }

    /// Called right after [`Retry::start`] for the first attempt (without an `.await` between
    /// them, which the derived attempt count relies on) and before every later one. Follow it
    /// with [`calling`](Self::calling) when the attempt calls the operation.
    ///
    /// [`Retry::start`]: super::Retry::start
    pub(crate) fn begin(&mut self) {
        self.attempt = self.attempt.saturating_add(1);
        if self.attempt > 1 {
            bump(&self.policy.stats.later_attempts);
        }
        self.called = false;
    }

    /// The attempt in progress calls the operation now: it counts as an attempt, and spends the
    /// budget token its retry took.
    pub(crate) fn calling(&mut self) {
        self.called = true;
        self.token = false;
        self.policy.metrics.attempts.increment(1);
    }

    /// Gives back a budget token not spent on an attempt.
    fn return_token(&mut self) {
        if std::mem::take(&mut self.token)
            && let Some(budget) = &self.policy.budget
        {
            budget.refund();
        }
    }

    pub(crate) fn succeeded(&mut self) {
        self.called = true;
        bump(&self.policy.stats.successes);
        if let Some(budget) = &self.policy.budget {
            budget.deposit();
        }
    }

    /// Decides what follows a failed attempt: `Ok(delay)` to retry after `delay`, or the error
    /// that ends the call. The policy's own rules classify `err`.
    pub(crate) fn failed(
        &mut self,
        err: ResilienceError<E>,
    ) -> Result<Duration, ResilienceError<E>> {
        if !std::mem::replace(&mut self.called, true) {
            // Stopped before it called the operation: a refusal, not an attempt.
            bump_uncalled(&self.policy.stats.refused);
            self.return_token();
        }
        let policy = &*self.policy;
        let stats = &policy.stats;
        let (retryable, floor) = match &err {
            ResilienceError::Cancelled => {
                bump(&stats.cancelled);
                return Err(err);
            }
            ResilienceError::Inner(e) => (policy.retry_if.as_ref().is_none_or(|p| p(e)), None),
            ResilienceError::Timeout(_) => (policy.retry_on_timeout, None),
            ResilienceError::RateLimited(_)
            | ResilienceError::Rejected(_)
            | ResilienceError::CircuitOpen(_) => (policy.retry_on_rejection, err.retry_after()),
            _ => (false, None),
        };
        if !retryable {
            bump(&stats.failures);
            return Err(err);
        }
        let overridden = match (&err, &policy.delay_from) {
            (ResilienceError::Inner(e), Some(delay_from)) => delay_from(e),
            _ => None,
        };
        // `delay_from` keeps its rule (bounded by `max_duration` only) unless a cap was set.
        let cap = policy.max_retry_after.unwrap_or(Duration::MAX);
        match self.schedule(overridden, cap, floor, Some(&err)) {
            Ok(delay) => Ok(delay),
            Err(Exhausted) => Err(self.exhausted(err)),
        }
    }

    /// Decides what follows an attempt that called the operation, whose outcome `result` was
    /// given `verdict` by a classifier (`None`: the policy's own rules, as [`failed`]).
    ///
    /// [`failed`]: Self::failed
    pub(crate) fn judged<T>(
        &mut self,
        result: Result<T, ResilienceError<E>>,
        verdict: Option<Verdict>,
    ) -> Step<T, E> {
        match (verdict, result) {
            (None | Some(Verdict::Success | Verdict::Ignored), Ok(value)) => {
                self.succeeded();
                Step::Done(Ok(value))
            }
            (None, Err(err)) => self.failed_step(err),
            (Some(Verdict::Success), Err(err)) => {
                // A good answer that happens to be an `Err` (a 404): the call succeeded.
                self.succeeded();
                Step::Done(Err(err))
            }
            (Some(Verdict::Ignored | Verdict::Permanent), result) => self.ended_failed(result),
            (Some(Verdict::Failure), Err(err)) => self.failed_step(err),
            (Some(Verdict::Failure), Ok(value)) => {
                self.called = true;
                self.retry_outcome(None, Ok(value))
            }
            (Some(Verdict::RetryAfter(delay)), result) => {
                self.called = true;
                self.retry_outcome(Some(delay), result)
            }
            // `Verdict` is non-exhaustive within the crate too: a future variant fails safe.
            #[allow(unreachable_patterns, reason = "the enum is #[non_exhaustive]")]
            (Some(_), result) => self.ended_failed(result),
        }
    }

    /// Ends the call with an outcome not retried, counted as a failure.
    fn ended_failed<T>(&mut self, result: Result<T, ResilienceError<E>>) -> Step<T, E> {
        self.called = true;
        bump(&self.policy.stats.failures);
        Step::Done(result)
    }

    fn failed_step<T>(&mut self, err: ResilienceError<E>) -> Step<T, E> {
        match self.failed(err) {
            Ok(delay) => Step::Retry(delay),
            Err(end) => Step::Done(Err(end)),
        }
    }

    /// Retries a classified failure after `delay` (`None`: the backoff), or ends the call: an
    /// `Ok` as it is, an `Err` as exhausted.
    fn retry_outcome<T>(
        &mut self,
        delay: Option<Duration>,
        result: Result<T, ResilienceError<E>>,
    ) -> Step<T, E> {
        let cap = self
            .policy
            .max_retry_after
            .unwrap_or(DEFAULT_MAX_RETRY_AFTER);
        match self.schedule(delay, cap, None, result.as_ref().err()) {
            Ok(delay) => Step::Retry(delay),
            Err(Exhausted) => match result {
                Ok(value) => {
                    self.count_exhausted();
                    Step::Done(Ok(value))
                }
                Err(err) => Step::Done(Err(self.exhausted(err))),
            },
        }
    }

    /// Schedules a retry of a retryable failure: attempts left, the delay (`overridden` if the
    /// outcome said, at most `cap`; else the backoff's, raised to `floor`), the total deadline,
    /// then the budget. `err` is announced to the hook (an `Ok` classified as a failure has
    /// none: the hook is not called for it).
    fn schedule(
        &mut self,
        overridden: Option<Duration>,
        cap: Duration,
        floor: Option<Duration>,
        err: Option<&ResilienceError<E>>,
    ) -> Result<Duration, Exhausted> {
        let policy = &*self.policy;
        let stats = &policy.stats;
        if self.attempt >= policy.max_attempts {
            return Err(Exhausted);
        }
        if overridden.is_some_and(|delay| delay > cap) {
            return Err(Exhausted);
        }
        let mut delay = overridden.unwrap_or_else(|| {
            policy
                .backoff
                .delay(self.attempt, self.previous, &policy.rng)
        });
        if let Some(floor) = floor {
            delay = delay.max(floor);
        }
        if let (Some(limit), Some(start)) = (policy.max_duration, self.start) {
            let spent = policy.rt.now().saturating_duration_since(start);
            if spent.saturating_add(delay) > limit {
                return Err(Exhausted);
            }
        }
        if let Some(budget) = &policy.budget {
            if !budget.try_withdraw() {
                bump(&stats.budget_exhausted);
                policy.metrics.budget_exhausted.increment(1);
                event!(
                    debug,
                    "uno_core::resilience",
                    name = %policy.name,
                    attempt = self.attempt,
                    "retry refused by the budget"
                );
                return Err(Exhausted);
            }
            // Held until the next attempt calls the operation; a panic in the hook below gives
            // it back (when the unwinding drops `self`).
            self.token = true;
        }
        if let (Some(hook), Some(err)) = (&policy.on_retry, err) {
            hook(self.attempt, err, delay);
        }
        event!(
            debug,
            "uno_core::resilience",
            name = %policy.name,
            attempt = self.attempt,
            ?delay,
            "retrying"
        );
        bump(&stats.retries);
        policy.metrics.retries.increment(1);
        self.previous = delay;
        Ok(delay)
    }

    /// Ends the call with `err`, not retried whatever it is.
    pub(super) fn give_up(&self, err: ResilienceError<E>) -> ResilienceError<E> {
        if matches!(err, ResilienceError::Cancelled) {
            bump(&self.policy.stats.cancelled);
        } else {
            bump(&self.policy.stats.failures);
        }
        err
    }

    /// Counts a call that gave up on a retryable failure.
    fn count_exhausted(&self) {
        bump(&self.policy.stats.failures);
        bump(&self.policy.stats.exhausted);
        event!(
            debug,
            "uno_core::resilience",
            name = %self.policy.name,
            attempts = self.attempt,
            "retries exhausted"
        );
    }

    fn exhausted(&self, last: ResilienceError<E>) -> ResilienceError<E> {
        self.count_exhausted();
        ResilienceError::RetriesExhausted {
            name: self.policy.name.shared(),
            attempts: self.attempt,
            last: Box::new(last),
        }
    }
}

impl<E, P: Deref<Target = Inner<E>>> Drop for AttemptsOf<P, E> {
    /// The call ends here, normally or not (dropped, or unwinding from a panic in the operation
    /// or a callback): an attempt in progress that never called the operation is not counted as
    /// one, and a budget token it held goes back.
    fn drop(&mut self) {
        if !self.called {
            bump_uncalled(&self.policy.stats.abandoned_uncalled);
        }
        self.return_token();
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;
    use crate::resilience::{
        BulkheadRejected, CircuitOpen, Retry, RetryAfter, RetryBuilder, RetryStats,
    };
    use crate::rt::VirtualRuntime;
    use crate::time::Elapsed;

    const MS: Duration = Duration::from_millis(1);

    fn retry(builder: RetryBuilder<&'static str>) -> Retry<&'static str> {
        builder.backoff(Backoff::constant(10 * MS)).build().unwrap()
    }

    fn builder(rt: &Runtime) -> RetryBuilder<&'static str> {
        Retry::builder(rt)
    }

    fn inner(e: &'static str) -> ResilienceError<&'static str> {
        ResilienceError::Inner(e)
    }

    /// One attempt that calls the operation and fails with `err`: the policy's decision.
    fn fail(
        attempts: &mut Attempts<'_, &'static str>,
        err: ResilienceError<&'static str>,
    ) -> Result<Duration, ResilienceError<&'static str>> {
        attempts.begin();
        attempts.calling();
        attempts.failed(err)
    }

    fn counts(s: RetryStats) -> (u64, u64, u64, u64, u64, u64) {
        (
            s.calls,
            s.attempts,
            s.refused,
            s.retries,
            s.failures,
            s.exhausted,
        )
    }

    #[test]
    fn errors_are_classified() {
        let rt = VirtualRuntime::new().handle();
        let policy = retry(builder(&rt).max_attempts(5).retry_if(|e| *e != "fatal"));
        let mut call = policy.start();
        assert_eq!(fail(&mut call, inner("busy")), Ok(10 * MS));
        let timeout = ResilienceError::Timeout(Elapsed::new(MS));
        assert_eq!(fail(&mut call, timeout), Ok(10 * MS), "timeouts: retried");
        let refusal = ResilienceError::Rejected(BulkheadRejected::QueueFull {
            name: "bulkhead".into(),
            max_queue: 0,
        });
        assert_eq!(
            fail(&mut call, refusal.clone()),
            Err(refusal),
            "refusals: not by default"
        );
        let mut call = policy.start();
        assert_eq!(fail(&mut call, inner("fatal")), Err(inner("fatal")));
        let mut call = policy.start();
        let cancelled = fail(&mut call, ResilienceError::Cancelled);
        assert_eq!(cancelled, Err(ResilienceError::Cancelled));
        let s = policy.stats();
        assert_eq!(
            (s.failures, s.cancelled, s.retries),
            (2, 1, 2),
            "a cancellation is no failure"
        );
    }

    #[test]
    fn a_refusal_waits_at_least_its_retry_after_and_timeouts_can_be_final() {
        let rt = VirtualRuntime::new().handle();
        let policy = retry(
            builder(&rt)
                .retry_on_rejection(true)
                .retry_on_timeout(false),
        );
        let mut call = policy.start();
        let limited = ResilienceError::RateLimited(RetryAfter::new("limiter", 70 * MS));
        assert_eq!(
            fail(&mut call, limited),
            Ok(70 * MS),
            "above the 10 ms backoff"
        );
        let open = ResilienceError::CircuitOpen(CircuitOpen {
            name: "breaker".into(),
            retry_after: None,
        });
        assert_eq!(fail(&mut call, open), Ok(10 * MS));
        let mut call = policy.start();
        let timeout = ResilienceError::Timeout(Elapsed::new(MS));
        assert_eq!(fail(&mut call, timeout.clone()), Err(timeout));
    }

    #[test]
    fn attempts_run_out_with_the_count_and_the_last_error() {
        let rt = VirtualRuntime::new().handle();
        let policy = retry(builder(&rt).max_attempts(3));
        let mut call = policy.start();
        assert!(fail(&mut call, inner("a")).is_ok());
        assert!(fail(&mut call, inner("b")).is_ok());
        let end = fail(&mut call, inner("c")).unwrap_err();
        let exhausted = ResilienceError::RetriesExhausted {
            name: "retry".into(),
            attempts: 3,
            last: Box::new(inner("c")),
        };
        assert_eq!(end, exhausted);
        drop(call);
        assert_eq!(counts(policy.stats()), (1, 3, 0, 2, 1, 1));
    }

    #[test]
    fn the_delay_from_the_error_and_the_total_deadline() {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let policy = retry(
            builder(&rt)
                .max_attempts(100)
                .max_duration(Duration::from_secs(1))
                .delay_from(|e: &&str| (*e == "later").then_some(300 * MS)),
        );
        let mut call = policy.start();
        assert_eq!(
            fail(&mut call, inner("later")),
            Ok(300 * MS),
            "not the backoff's"
        );
        vrt.clock().advance(990 * MS);
        assert_eq!(
            fail(&mut call, inner("busy")),
            Ok(10 * MS),
            "990 + 10 ms: in time"
        );
        vrt.clock().advance(10 * MS);
        let end = fail(&mut call, inner("busy")).unwrap_err();
        assert_eq!(
            end.attempts(),
            Some(3),
            "a retry at 1.01 s would be too late"
        );
    }

    #[test]
    fn a_budget_token_is_spent_only_by_an_attempt_that_calls_the_operation() {
        let rt = VirtualRuntime::new().handle();
        let budget = RetryBudget::try_new(2, 0.1).unwrap();
        let policy = retry(builder(&rt).max_attempts(10).budget(budget.clone()));
        let mut call = policy.start();
        assert!(fail(&mut call, inner("busy")).is_ok());
        assert_eq!(budget.available(), 1, "withdrawn for the retry");
        // The retry's attempt is refused before it calls the operation: the token goes back.
        call.begin();
        let refused = ResilienceError::Rejected(BulkheadRejected::QueueFull {
            name: "bulkhead".into(),
            max_queue: 0,
        });
        assert_eq!(call.failed(refused.clone()), Err(refused));
        assert_eq!(budget.available(), 2);
        drop(call);
        // Dropped in its backoff: the token taken for the next attempt goes back too.
        let mut call = policy.start();
        assert!(fail(&mut call, inner("busy")).is_ok());
        assert_eq!(budget.available(), 1);
        drop(call);
        assert_eq!(budget.available(), 2);
        // Spent by attempts that call the operation; then the budget is empty.
        let mut call = policy.start();
        assert!(fail(&mut call, inner("busy")).is_ok());
        assert!(fail(&mut call, inner("busy")).is_ok());
        let end = fail(&mut call, inner("busy")).unwrap_err();
        assert_eq!(end.attempts(), Some(3));
        assert_eq!(budget.available(), 0);
        assert_eq!(policy.stats().budget_exhausted, 1);
    }

    #[test]
    fn a_panicking_hook_gives_the_token_back() {
        let rt = VirtualRuntime::new().handle();
        let budget = RetryBudget::try_new(1, 0.1).unwrap();
        let policy = retry(
            builder(&rt)
                .budget(budget.clone())
                .on_retry(|_, _, _| panic!("hook")),
        );
        let mut call = policy.start();
        let unwound = catch_unwind(AssertUnwindSafe(|| fail(&mut call, inner("busy"))));
        assert!(unwound.is_err());
        drop(call);
        assert_eq!(budget.available(), 1);
        assert_eq!(policy.stats().retries, 0, "the retry was never made");
    }

    #[test]
    fn attempts_that_never_call_the_operation_are_counted_apart() {
        let rt = VirtualRuntime::new().handle();
        let policy = retry(builder(&rt).max_attempts(4).retry_on_rejection(true));
        let mut call = policy.start();
        let refused = ResilienceError::CircuitOpen(CircuitOpen {
            name: "breaker".into(),
            retry_after: None,
        });
        for _ in 0..2 {
            call.begin();
            assert!(call.failed(refused.clone()).is_ok());
        }
        call.begin();
        call.calling();
        call.succeeded();
        drop(call);
        // Begun and dropped before calling: abandoned, not an attempt.
        let mut call = policy.start();
        call.begin();
        drop(call);
        let s = policy.stats();
        assert_eq!(counts(s), (2, 1, 2, 2, 0, 0));
        assert_eq!(s.successes, 1);
    }
}
