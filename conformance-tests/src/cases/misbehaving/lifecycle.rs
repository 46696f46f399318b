//! Misbehaving user code around `TaskManager`, `AsyncManager`, `AsyncContextGroup` and `run_application`.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_misbehaving_lifecycle {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; misbehaving_lifecycle:
        }
    };
}
