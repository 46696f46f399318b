//! Cases: semaphore.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_semaphore {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; semaphore:
            
        }
    };
}
use crate::Env;
