//! Cases: event.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_event {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; event:
            
        }
    };
}
use crate::Env;
