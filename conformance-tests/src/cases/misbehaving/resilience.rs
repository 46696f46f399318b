//! Misbehaving user code around retry, rate limiter, bulkhead, circuit breaker and the `Pipeline`.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_misbehaving_resilience {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; misbehaving_resilience:
        }
    };
}
