//! Cases: rwlock.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_rwlock {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; rwlock:
            
        }
    };
}
use crate::Env;
