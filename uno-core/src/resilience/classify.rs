//! Failure classification: what the circuit breaker and the retry make of one outcome of the
//! operation, decided from the whole `Result` (as tower's `Policy::retry(&mut req, &mut result)`
//! and resilience4j's `recordResult` do): an `Ok` can be a failure (an HTTP 5xx response), an
//! `Err` can be ignored (a 404 is a fine answer from a healthy server).
//!
//! A classifier is anything that implements [`Classify`]: every closure
//! `Fn(Result<&T, &E>) -> Verdict` does. Give one per call
//! ([`CircuitBreaker::run_classified`], [`Retry::run_classified`],
//! [`Pipeline::run_classified`]) or per tower layer (`.classify(..)` on the retry and breaker
//! layers, with the `tower` feature). Without one, [`DefaultClassify`] applies: `Ok` succeeds,
//! every `Err` fails — exactly what the unclassified `run` does.
//!
//! # Examples
//!
//! One classifier for both policies: a 5xx is a failure (a 503 with `Retry-After` says when to
//! come back), a 404 is a fine answer, a 400 is a failure not worth repeating.
//!
//! ```
//! use std::time::Duration;
//! use uno_core::resilience::{Backoff, CircuitBreaker, Retry, Verdict};
//! # use uno_core::rt::VirtualRuntime;
//! # let vrt = VirtualRuntime::new();
//! # let rt = vrt.handle();
//! # vrt.block_on(async move {
//!
//! struct Response { status: u16, retry_after: Option<u64> }
//!
//! fn http(outcome: Result<&Response, &std::io::Error>) -> Verdict {
//!     match outcome {
//!         Ok(r) if r.status == 404 => Verdict::Ignored,
//!         Ok(r) if r.status == 400 => Verdict::Permanent,
//!         Ok(Response { status: 500.., retry_after: Some(secs) }) => {
//!             Verdict::RetryAfter(Duration::from_secs(*secs))
//!         }
//!         Ok(r) if r.status >= 500 => Verdict::Failure,
//!         Ok(_) => Verdict::Success,
//!         Err(_) => Verdict::Failure,
//!     }
//! }
//!
//! let retry = Retry::builder(&rt).backoff(Backoff::constant(Duration::from_millis(10))).build().unwrap();
//! let mut calls = 0;
//! let start = rt.now();
//! let response = retry
//!     .run_classified(
//!         || {
//!             calls += 1;
//!             let n = calls;
//!             async move {
//!                 Ok(if n == 1 { Response { status: 503, retry_after: Some(2) } }
//!                    else { Response { status: 200, retry_after: None } })
//!             }
//!         },
//!         http,
//!     )
//!     .await
//!     .unwrap();
//! assert_eq!(response.status, 200);
//! assert_eq!(rt.now() - start, Duration::from_secs(2)); // the server's Retry-After, not 10 ms
//!
//! let breaker = CircuitBreaker::builder(&rt).count_window(2).minimum_calls(2).build().unwrap();
//! for _ in 0..2 {
//!     let answer = breaker
//!         .run_classified(|| async { Ok(Response { status: 404, retry_after: None }) }, http)
//!         .await;
//!     assert_eq!(answer.unwrap().status, 404);
//! }
//! assert_eq!(breaker.stats().ignored, 2); // neither successes nor failures
//! # });
//! ```
//!
//! [`CircuitBreaker::run_classified`]: super::CircuitBreaker::run_classified
//! [`Retry::run_classified`]: super::Retry::run_classified
//! [`Pipeline::run_classified`]: super::Pipeline::run_classified

use std::time::Duration;

/// What a policy makes of one outcome of the operation; returned by a [`Classify`]er.
///
/// How each policy reads it:
///
/// | Verdict | circuit breaker | retry |
/// |---|---|---|
/// | `Success` | a success | ends the call; counted a success (and deposited into the budget) |
/// | `Failure` | a failure | retried after the backoff; an `Err` still goes through [`retry_if`] and [`delay_from`] |
/// | `RetryAfter(d)` | a failure | retried after `d` instead of the backoff (see below) |
/// | `Permanent` | a failure | ends the call; counted a failure |
/// | `Ignored` | not counted (as a cancelled call) | ends the call; counted a success for an `Ok`, a failure for an `Err` |
///
/// When the retry gives up on an outcome it would have retried (attempts, deadline or budget
/// ran out), an `Err` ends as [`ResilienceError::RetriesExhausted`] and an `Ok` is returned as it
/// is (the last response, as tower's retry returns it), counted as a failure.
///
/// **`RetryAfter` and its cap.** The delay replaces the backoff (it is not capped by the
/// backoff's `max_delay`) and is bounded by the retry's limits: it must fit in what is left of
/// [`max_duration`], and it must not exceed [`max_retry_after`] (60 s unless set). A longer
/// delay ends the call as if the retries had run out, instead of waiting less than the server
/// asked (a retry before its `Retry-After` is load it said it cannot take).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::Verdict;
///
/// let verdict = |status: u16| match status {
///     200..=399 => Verdict::Success,
///     404 => Verdict::Ignored,
///     429 | 503 => Verdict::RetryAfter(Duration::from_secs(1)),
///     500.. => Verdict::Failure,
///     _ => Verdict::Permanent,
/// };
/// assert!(verdict(503).is_failure() && verdict(503).is_retryable());
/// assert!(verdict(400).is_failure() && !verdict(400).is_retryable());
/// assert!(!verdict(404).is_failure());
/// ```
///
/// [`retry_if`]: super::RetryBuilder::retry_if
/// [`delay_from`]: super::RetryBuilder::delay_from
/// [`max_duration`]: super::RetryBuilder::max_duration
/// [`max_retry_after`]: super::RetryBuilder::max_retry_after
/// [`ResilienceError::RetriesExhausted`]: super::ResilienceError::RetriesExhausted
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// A good outcome.
    Success,
    /// A transient failure: counted by the breaker, retried by the retry.
    Failure,
    /// A transient failure that says when to try again (an HTTP `Retry-After`).
    RetryAfter(Duration),
    /// A failure not worth repeating: counted by the breaker, not retried.
    Permanent,
    /// Neither success nor failure for the breaker; not retried.
    Ignored,
}

impl Verdict {
    /// Whether the circuit breaker counts it as a failure (`Failure`, `RetryAfter`, `Permanent`).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Verdict;
    ///
    /// assert!(Verdict::Permanent.is_failure());
    /// assert!(!Verdict::Ignored.is_failure() && !Verdict::Success.is_failure());
    /// ```
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Verdict::Failure | Verdict::RetryAfter(_) | Verdict::Permanent
        )
    }

    /// Whether the retry tries again after it (`Failure`, `RetryAfter`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::Verdict;
    ///
    /// assert!(Verdict::RetryAfter(Duration::from_secs(1)).is_retryable());
    /// assert!(!Verdict::Permanent.is_retryable());
    /// ```
    pub fn is_retryable(self) -> bool {
        matches!(self, Verdict::Failure | Verdict::RetryAfter(_))
    }

    /// What the circuit breaker records: `Some(failed)`, or `None` for "not counted".
    pub(crate) fn breaker_outcome(self) -> Option<bool> {
        match self {
            Verdict::Success => Some(false),
            Verdict::Ignored => None,
            _ => Some(true),
        }
    }
}

/// Decides the [`Verdict`] of one outcome of an operation returning `Result<T, E>`.
///
/// Implemented by every `Fn(Result<&T, &E>) -> Verdict` (closures and functions) and by
/// [`DefaultClassify`]. A classifier is called once per outcome, after the operation's future
/// finished and before the policy records it; it sees only the operation's own outcomes, not a
/// policy's refusals, timeouts or cancellations (those keep their fixed rules).
///
/// # Panics
///
/// A classifier that panics ends the call with its panic (propagated to the caller, as a panic
/// of the operation): the breaker counts the call as neither success nor failure and frees its
/// probe slot, and the retry makes no further attempt (the attempt's budget token was already
/// spent on the call). No policy is wedged.
///
/// # Examples
///
/// ```
/// use uno_core::resilience::{Classify, DefaultClassify, Verdict};
///
/// struct ServerErrors;
/// impl Classify<u16, ()> for ServerErrors {
///     fn classify(&self, outcome: Result<&u16, &()>) -> Verdict {
///         match outcome {
///             Ok(status) if *status >= 500 => Verdict::Failure,
///             Ok(_) => Verdict::Success,
///             Err(()) => Verdict::Failure,
///         }
///     }
/// }
/// assert_eq!(ServerErrors.classify(Ok(&502)), Verdict::Failure);
/// assert_eq!(DefaultClassify.classify(Ok::<_, &()>(&502)), Verdict::Success);
/// let closure = |outcome: Result<&u16, &()>| if outcome.is_ok() { Verdict::Success } else { Verdict::Ignored };
/// assert_eq!(closure.classify(Err(&())), Verdict::Ignored);
/// ```
pub trait Classify<T, E> {
    /// The verdict on `outcome`.
    fn classify(&self, outcome: Result<&T, &E>) -> Verdict;
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(Result<&T, &E>) -> Verdict,
{
    fn classify(&self, outcome: Result<&T, &E>) -> Verdict {
        self(outcome)
    }
}

/// The classification of a policy given no classifier: `Ok` is a [`Verdict::Success`], every
/// `Err` a [`Verdict::Failure`] (for the retry, still filtered by its
/// [`retry_if`](super::RetryBuilder::retry_if) and
/// [`delay_from`](super::RetryBuilder::delay_from)). The same as the policies' `run`.
///
/// # Examples
///
/// ```
/// use uno_core::resilience::{Classify, DefaultClassify, Verdict};
///
/// assert_eq!(DefaultClassify.classify(Ok::<_, &str>(&1)), Verdict::Success);
/// assert_eq!(DefaultClassify.classify(Err::<&u8, _>(&"down")), Verdict::Failure);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultClassify;

impl<T, E> Classify<T, E> for DefaultClassify {
    fn classify(&self, outcome: Result<&T, &E>) -> Verdict {
        match outcome {
            Ok(_) => Verdict::Success,
            Err(_) => Verdict::Failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_verdict_reads_the_same_for_both_policies() {
        let after = Verdict::RetryAfter(Duration::from_secs(1));
        let table = [
            (Verdict::Success, Some(false), false),
            (Verdict::Failure, Some(true), true),
            (after, Some(true), true),
            (Verdict::Permanent, Some(true), false),
            (Verdict::Ignored, None, false),
        ];
        for (verdict, breaker, retried) in table {
            assert_eq!(verdict.breaker_outcome(), breaker, "{verdict:?}");
            assert_eq!(verdict.is_retryable(), retried, "{verdict:?}");
            assert_eq!(verdict.is_failure(), breaker == Some(true), "{verdict:?}");
        }
    }
}
