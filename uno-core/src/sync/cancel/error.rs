//! [`Cancelled`]: the error of a [`cancellable`](super::cancellable) future.

use std::fmt;

/// The error of a [`cancellable`](super::cancellable) future: its token was cancelled first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("operation was cancelled")
    }
}

impl std::error::Error for Cancelled {}
