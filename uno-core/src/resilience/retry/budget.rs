//! The retry budget: a token bucket that stops retries from multiplying an outage.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::resilience::ConfigError;

/// Tokens are kept in thousandths so that fractional deposits stay lock-free integers.
const SCALE: u64 = 1000;

/// A budget of retries shared by every clone (and every [`Retry`](super::Retry) given a clone):
/// each retry withdraws one token, each successful call deposits `ratio` tokens, and the balance
/// never exceeds `max_tokens` (it starts full).
///
/// While the budget is empty, failed calls are not retried, so during an outage the extra load
/// retries add is bounded by `ratio` of the successful traffic (Finagle's and gRPC's retry
/// budgets) instead of multiplying every failure by `max_attempts`.
///
/// # Examples
///
/// ```
/// use uno_core::resilience::RetryBudget;
///
/// let budget = RetryBudget::try_new(2, 0.5).unwrap();
/// assert!(budget.try_withdraw());
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw()); // empty
/// budget.deposit();
/// budget.deposit(); // two successes earn one retry
/// assert!(budget.try_withdraw());
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    balance: AtomicU64,
    max: u64,
    deposit: u64,
}

impl RetryBudget {
    /// A full budget of `max_tokens` retries, refilled by `ratio` tokens per successful call.
    ///
    /// Named `try_new` because it checks its two arguments and can fail; a budget has nothing
    /// else to configure (and reads no clock), so it has no builder.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Zero`] for zero `max_tokens`; [`ConfigError::InvalidRatio`] if `ratio` is NaN,
    /// infinite, not positive, or below 0.001 (the budget's resolution).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{ConfigError, RetryBudget};
    ///
    /// let budget = RetryBudget::try_new(10, 0.1).unwrap(); // one retry per ten successes
    /// assert_eq!(budget.available(), 10); // starts full
    /// let err = RetryBudget::try_new(0, 0.1).unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "retry budget max_tokens" });
    /// let err = RetryBudget::try_new(10, f64::NAN).unwrap_err();
    /// assert!(matches!(err, ConfigError::InvalidRatio { what: "retry budget ratio", .. }));
    /// ```
    pub fn try_new(max_tokens: u32, ratio: f64) -> Result<Self, ConfigError> {
        if max_tokens == 0 {
            return Err(ConfigError::Zero {
                what: "retry budget max_tokens",
            });
        }
        if !ratio.is_finite() || ratio < 1.0 / SCALE as f64 {
            return Err(ConfigError::InvalidRatio {
                what: "retry budget ratio",
                value: ratio,
            });
        }
        let max = u64::from(max_tokens) * SCALE;
        Ok(RetryBudget {
            inner: Arc::new(Inner {
                balance: AtomicU64::new(max),
                max,
                deposit: ((ratio * SCALE as f64).round() as u64).min(max),
            }),
        })
    }

    /// Takes one retry from the budget; `false` (and nothing taken) if less than one is left.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::RetryBudget;
    ///
    /// let budget = RetryBudget::try_new(1, 1.0).unwrap();
    /// let shared = budget.clone(); // clones share the balance
    /// assert!(shared.try_withdraw());
    /// assert!(!budget.try_withdraw()); // empty: do not retry
    /// assert_eq!(budget.available(), 0);
    /// ```
    pub fn try_withdraw(&self) -> bool {
        self.inner
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                b.checked_sub(SCALE)
            })
            .is_ok()
    }

    /// Credits one successful call.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::RetryBudget;
    ///
    /// let budget = RetryBudget::try_new(2, 0.25).unwrap();
    /// budget.deposit(); // already full: nothing changes
    /// assert_eq!(budget.available(), 2);
    /// assert!(budget.try_withdraw());
    /// for _ in 0..4 {
    ///     budget.deposit(); // 4 × 0.25 = one retry back
    /// }
    /// assert_eq!(budget.available(), 2);
    /// ```
    pub fn deposit(&self) {
        let inner = &*self.inner;
        // Skip the write when already full, so the happy path of a healthy service stays read-only.
        if inner.balance.load(Ordering::Relaxed) >= inner.max {
            return;
        }
        let _ = inner
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                Some((b + inner.deposit).min(inner.max))
            });
    }

    /// Gives back one token withdrawn for a retry that never called the operation (the call was
    /// dropped in its backoff, a callback panicked, a policy refused the attempt), never above
    /// the maximum.
    pub(crate) fn refund(&self) {
        let inner = &*self.inner;
        let _ = inner
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                Some((b + SCALE).min(inner.max))
            });
    }

    /// Whole retries currently available.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::RetryBudget;
    ///
    /// let budget = RetryBudget::try_new(3, 0.5).unwrap();
    /// assert!(budget.try_withdraw());
    /// budget.deposit(); // half a token: not yet a whole retry
    /// assert_eq!(budget.available(), 2);
    /// budget.deposit();
    /// assert_eq!(budget.available(), 3);
    /// ```
    pub fn available(&self) -> u32 {
        u32::try_from(self.inner.balance.load(Ordering::Acquire) / SCALE).unwrap_or(u32::MAX)
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("available", &self.available())
            .field("max_tokens", &(self.inner.max / SCALE))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_starts_full_and_runs_dry() {
        let budget = RetryBudget::try_new(3, 0.5).unwrap();
        assert_eq!(budget.available(), 3);
        assert!((0..3).all(|_| budget.try_withdraw()));
        assert!(!budget.try_withdraw(), "empty");
        assert_eq!(budget.available(), 0);
    }

    #[test]
    fn deposits_add_up_in_thousandths_and_never_pass_the_maximum() {
        let budget = RetryBudget::try_new(2, 0.3).unwrap();
        budget.deposit();
        assert_eq!(
            budget.inner.balance.load(Ordering::Relaxed),
            2 * SCALE,
            "full: unchanged"
        );
        assert!(budget.try_withdraw() && budget.try_withdraw());
        for _ in 0..3 {
            budget.deposit();
        }
        assert_eq!(budget.available(), 0, "0.9 of a retry");
        budget.deposit();
        assert_eq!(budget.available(), 1, "1.2");
        for _ in 0..10 {
            budget.deposit();
        }
        assert_eq!(
            budget.inner.balance.load(Ordering::Relaxed),
            2 * SCALE,
            "capped"
        );
        // A ratio above the maximum deposits at most a full budget.
        let generous = RetryBudget::try_new(1, 5.0).unwrap();
        assert!(generous.try_withdraw());
        generous.deposit();
        assert_eq!(generous.available(), 1);
    }

    #[test]
    fn a_refund_gives_back_one_token_never_above_the_maximum() {
        let budget = RetryBudget::try_new(1, 0.1).unwrap();
        budget.refund();
        assert_eq!(budget.available(), 1, "already full");
        assert!(budget.try_withdraw());
        budget.refund();
        assert!(budget.try_withdraw(), "the refunded token");
    }

    #[test]
    fn the_ratio_is_checked_against_the_resolution() {
        assert!(RetryBudget::try_new(1, 0.001).is_ok());
        for ratio in [0.0009, 0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = RetryBudget::try_new(1, ratio).unwrap_err();
            assert!(matches!(err, ConfigError::InvalidRatio { .. }), "{ratio}");
        }
        let max = RetryBudget::try_new(u32::MAX, 1.0).unwrap();
        assert_eq!(max.available(), u32::MAX);
    }

    #[test]
    fn racing_withdrawals_never_overdraw() {
        let budget = RetryBudget::try_new(1000, 0.1).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || (0..500).filter(|_| budget.try_withdraw()).count())
            })
            .collect();
        let taken: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(taken, 1000);
        assert_eq!(budget.available(), 0);
    }
}
