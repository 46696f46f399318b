//! The semaphore's errors.

use std::fmt;

use super::MAX_PERMITS;
use crate::time::Elapsed;

/// `try_acquire` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// The semaphore is closed.
    Closed,
    /// Not enough permits now (or others are queued first).
    NoPermits,
}

/// The semaphore was closed while waiting or before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquireError(pub(super) ());

/// An acquire with a time limit failed. The [`Elapsed`](Self::Elapsed) variant is transparent:
/// its `Display` is the timeout's own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcquireTimeoutError {
    /// The semaphore is closed.
    Closed,
    /// The permits were not acquired in time.
    Elapsed(Elapsed),
}

/// Adding permits would exceed [`MAX_PERMITS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TooManyPermits {
    /// Permits in existence before the call (free or held).
    pub total: usize,
    /// Permits the call tried to add.
    pub requested: usize,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore is closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
        }
    }
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore is closed")
    }
}

impl fmt::Display for AcquireTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireTimeoutError::Closed => f.write_str("semaphore is closed"),
            AcquireTimeoutError::Elapsed(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for TooManyPermits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "adding {} permits to {} would exceed the maximum of {MAX_PERMITS}",
            self.requested, self.total
        )
    }
}

impl std::error::Error for TryAcquireError {}
impl std::error::Error for AcquireError {}
impl std::error::Error for AcquireTimeoutError {}
impl std::error::Error for TooManyPermits {}
