//! Misbehaving user code around `TaskGroup` and `task_group`.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_misbehaving_group {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; misbehaving_group:
        }
    };
}
