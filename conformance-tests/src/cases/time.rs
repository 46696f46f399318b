//! Cases: time.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_time {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; time:
            
        }
    };
}
use crate::Env;
