//! Cancellation: a hierarchical [`CancellationToken`], and [`cancellable`] futures.
//!
//! - `token`: [`CancellationToken`], the handle, and its [`DropGuard`];
//! - `tree`: the tree of tokens and how a cancellation reaches every descendant (with its
//!   implementation notes; model-checked);
//! - `future`: [`WaitForCancellation`] and [`WaitForCancellationOwned`], [`cancellable`]'s
//!   [`Cancellable`], and [`RunUntilCancelled`] and [`RunUntilCancelledOwned`];
//! - `error`: [`Cancelled`].

mod error;
mod future;
mod token;
mod tree;

pub use error::Cancelled;
pub use future::{
    Cancellable, RunUntilCancelled, RunUntilCancelledOwned, WaitForCancellation,
    WaitForCancellationOwned, cancellable,
};
pub use token::{CancellationToken, DropGuard};
