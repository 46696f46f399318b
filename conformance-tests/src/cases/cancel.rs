//! Cases: cancel.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_cancel {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; cancel:
            
        }
    };
}
use crate::Env;
