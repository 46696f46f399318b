//! Misbehaving user code around `AsyncCache`.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_misbehaving_cache {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; misbehaving_cache:
        }
    };
}
