//! The user's batch operation: what it may return, and how it is called (panics caught).

use std::convert::Infallible;
use std::future::Future;

use super::error::BatchError;
use crate::observe::Name;
use crate::panic::{self, Contained};
use crate::rt::BoxFuture;

/// What a batch operation's future may resolve to: one result per item, possibly behind a
/// batch-wide error.
///
/// Implemented for
/// - `Vec<T>`: the batch cannot fail as a whole (`Error = Infallible`);
/// - `Result<Vec<T>, E>`: `Err(e)` fails every item of the batch with
///   [`BatchError::Operation`] carrying `e`, cloned for each.
///
/// Per-item errors need nothing special: let each result be a `Result`. For example an operation
/// returning `Result<Vec<Result<Row, NotFound>>, DbError>` gives each caller a
/// `Result<Result<Row, NotFound>, BatchError<DbError>>`: the outer layer for the batch, the inner
/// one for the item.
pub trait BatchResults: Send + 'static {
    /// One item's result.
    type Output: Send + 'static;
    /// The batch-wide error, cloned for every item of a failed batch.
    type Error: Clone + Send + 'static;

    /// Splits into the per-item results, or the batch-wide error.
    fn into_results(self) -> Result<Vec<Self::Output>, Self::Error>;
}

impl<T: Send + 'static> BatchResults for Vec<T> {
    type Output = T;
    type Error = Infallible;

    fn into_results(self) -> Result<Vec<T>, Infallible> {
        Ok(self)
    }
}

impl<T: Send + 'static, E: Clone + Send + 'static> BatchResults for Result<Vec<T>, E> {
    type Output = T;
    type Error = E;

    fn into_results(self) -> Result<Vec<T>, E> {
        self
    }
}

/// The operation with its future type erased: one box per batch, none per item.
pub(super) type Operation<I, O, E> =
    Box<dyn Fn(Vec<I>) -> BoxFuture<Result<Vec<O>, E>> + Send + Sync>;

pub(super) fn erase<I, F, Fut>(
    op: F,
) -> Operation<I, <Fut::Output as BatchResults>::Output, <Fut::Output as BatchResults>::Error>
where
    I: Send + 'static,
    F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: BatchResults,
{
    Box::new(move |items| {
        let future = op(items);
        Box::pin(async move { future.await.into_results() })
    })
}

/// Calls the operation and awaits it, turning a panic — in the call, in any poll, or in the
/// `Drop` of its future (when it completes, or when the runtime drops the batch) — into
/// [`BatchError::Panicked`], so it reaches each waiter as a value and never unwinds into the
/// batcher. `name` is the batcher's, for the errors.
pub(super) async fn call<I, O, E>(
    op: &Operation<I, O, E>,
    name: &Name,
    items: Vec<I>,
) -> Result<Vec<O>, BatchError<E>> {
    let panicked = |message| BatchError::Panicked {
        name: name.shared(),
        message,
    };
    let future = panic::call(|| op(items)).map_err(panicked)?;
    match Contained::new(future).await {
        Ok(result) => result.map_err(|error| BatchError::Operation {
            name: name.shared(),
            error,
        }),
        Err(message) => Err(panicked(message)),
    }
}
