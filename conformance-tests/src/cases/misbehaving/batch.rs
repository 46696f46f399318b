//! Misbehaving user code around `AsyncBatcher`.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_misbehaving_batch {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; misbehaving_batch:
        }
    };
}
