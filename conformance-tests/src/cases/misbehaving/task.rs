//! Misbehaving user code around `Task`, `shield` and blocking jobs.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_misbehaving_task {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; misbehaving_task:
        }
    };
}
