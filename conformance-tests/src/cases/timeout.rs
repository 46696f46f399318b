//! Cases: timeout.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_timeout {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; timeout:
            
        }
    };
}
use crate::Env;
