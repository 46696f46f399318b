//! Primitives: [`AsyncLock`], [`AsyncRwLock`], [`AsyncSemaphore`], [`AsyncEvent`], and
//! cancellation with [`CancellationToken`] and [`cancellable`].
//!
//! Each is a cheap-to-clone handle: clones share one lock, semaphore, event or token, which is what
//! the Uno framework's named primitives are. The locks build on `async-lock`; the event and the
//! token on `event-listener`. Every waiting operation comes in three forms: `try_*` (never waits),
//! the plain future, and `*_timeout` on a [`Runtime`](crate::rt::Runtime)'s clock.
//!
//! - `lock`, `rwlock`: [`AsyncLock`] and [`AsyncRwLock`], named, over `async-lock` (their guard
//!   and future types in [`guards`]);
//! - `semaphore`: [`AsyncSemaphore`], its permits and errors, over its own algorithm;
//! - `event`: [`AsyncEvent`];
//! - `cancel`: [`CancellationToken`], [`cancellable`] and [`Cancelled`], with the owned futures
//!   ([`CancellationToken::cancelled_owned`], [`CancellationToken::run_until_cancelled_owned`]).
//!
//! # Metrics
//!
//! None: the primitives are unnamed building blocks on the hot path of the components above them,
//! which report what they do with them (a bulkhead's in-flight calls, a group's children).
//!
//! # Tracing
//!
//! None, for the same reason; a timeout of theirs is an [`Elapsed`](crate::time::Elapsed) whose
//! message says what was waited for (`acquiring lock "accounts": timed out after 1s`).

mod cancel;
mod event;
mod lock;
mod rwlock;
mod semaphore;

pub use cancel::{
    Cancellable, CancellationToken, Cancelled, DropGuard, RunUntilCancelled,
    RunUntilCancelledOwned, WaitForCancellation, WaitForCancellationOwned, cancellable,
};
pub use event::{AsyncEvent, EventWait};
pub use lock::AsyncLock;
pub use rwlock::AsyncRwLock;
pub use semaphore::{
    Acquire, AcquireError, AcquireOwned, AcquireTimeoutError, AsyncSemaphore, MAX_PERMITS,
    OwnedSemaphorePermit, SemaphorePermit, TooManyPermits, TryAcquireError,
};

/// Guard and future types of the locks, from `async-lock`.
pub mod guards {
    pub use async_lock::futures::{Lock, LockArc, Read, ReadArc, Write, WriteArc};
    pub use async_lock::{
        MutexGuard, MutexGuardArc, RwLockReadGuard, RwLockReadGuardArc, RwLockWriteGuard,
        RwLockWriteGuardArc,
    };
}

/// The metrics this module reports (see [`crate::observe`]), for `describe_metrics`.
pub(crate) const METRICS: &[crate::observe::Description] = &[];
