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
/// let budget = RetryBudget::new(2, 0.5).unwrap();
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
    /// let budget = RetryBudget::new(10, 0.1).unwrap(); // one retry per ten successes
    /// assert_eq!(budget.available(), 10); // starts full
    /// let err = RetryBudget::new(0, 0.1).unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "retry budget max_tokens" });
    /// let err = RetryBudget::new(10, f64::NAN).unwrap_err();
    /// assert!(matches!(err, ConfigError::InvalidRatio { what: "retry budget ratio", .. }));
    /// ```
    pub fn new(max_tokens: u32, ratio: f64) -> Result<Self, ConfigError> {
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
    /// let budget = RetryBudget::new(1, 1.0).unwrap();
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
    /// let budget = RetryBudget::new(2, 0.25).unwrap();
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
    /// let budget = RetryBudget::new(3, 0.5).unwrap();
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
