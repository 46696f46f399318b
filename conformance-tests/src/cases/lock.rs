//! Cases: lock.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_lock {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; lock:
            
        }
    };
}
use crate::Env;
