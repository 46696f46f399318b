//! [`BlockingJob`] and [`blocking`]: a blocking closure split into the job a thread pool runs and
//! the [`Task`] that reports its outcome.

use std::fmt;

use super::state::Shared;
use super::{JoinError, Task};
use crate::panic;

/// Work for a blocking thread pool, paired with the [`Task`] that reports its outcome.
///
/// Adapters build their `spawn_blocking` from [`blocking`]: run the job on the executor's blocking
/// pool, hand the task to the user. The job catches a panic of the closure, and if it is dropped
/// without running (pool shut down) the task resolves to a cancelled [`JoinError`].
pub struct BlockingJob {
    job: Option<Box<dyn FnOnce() + Send>>,
    /// Publishes the outcome of a job dropped without running.
    on_drop: Option<Box<dyn FnOnce(JoinError) + Send>>,
}

impl BlockingJob {
    /// Runs the closure on the current thread, storing its outcome for the task.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::future::block_on;
    /// use uno_core::task::blocking;
    ///
    /// let (job, task) = blocking(|| "ran");
    /// job.run(); // on this thread; an adapter runs it on its blocking pool
    /// assert_eq!(block_on(task).unwrap(), "ran");
    ///
    /// let (job, task) = blocking(|| "never");
    /// drop(job); // the pool shut down before running it
    /// assert!(block_on(task).unwrap_err().is_cancelled());
    /// ```
    pub fn run(mut self) {
        self.on_drop = None;
        if let Some(job) = self.job.take() {
            job();
        }
    }
}

impl Drop for BlockingJob {
    fn drop(&mut self) {
        // Dropped unrun: the closure's captures are dropped here, and a panic in their `Drop`
        // is the task's outcome rather than a panic in the pool that dropped the job.
        let dropped = match self.job.take() {
            Some(job) => panic::catch(move || drop(job)).map_err(JoinError::panicked),
            None => Ok(()),
        };
        if let Some(on_drop) = self.on_drop.take() {
            on_drop(dropped.err().unwrap_or_else(JoinError::cancelled));
        }
    }
}

impl fmt::Debug for BlockingJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingJob").finish_non_exhaustive()
    }
}

/// Splits a blocking closure into a [`BlockingJob`] (to run on a thread) and its [`Task`].
///
/// A cancelled task cannot interrupt a closure that is already running; it only prevents a closure
/// that has not started yet from starting.
///
/// # Examples
///
/// ```
/// let (job, task) = uno_core::task::blocking(|| 6 * 7);
/// std::thread::spawn(move || job.run());
/// assert_eq!(futures_lite::future::block_on(task).unwrap(), 42);
/// ```
///
/// # Cancel safety
///
/// Dropping the [`Task`] cancels the job if it has not started, and loses its output; a closure
/// that is already running runs to completion.
pub fn blocking<F, T>(f: F) -> (BlockingJob, Task<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let shared = Shared::new();
    let run_shared = shared.clone();
    let drop_shared = shared.clone();
    let job = BlockingJob {
        job: Some(Box::new(move || {
            if run_shared.is_cancel_requested() {
                // Not run; its captures may still panic while being dropped.
                let dropped = panic::catch(move || drop(f)).map_err(JoinError::panicked);
                run_shared.complete(dropped.and(Err(JoinError::cancelled())));
                return;
            }
            let result = panic::catch(f).map_err(JoinError::panicked);
            run_shared.complete(result);
        })),
        on_drop: Some(Box::new(move |error| drop_shared.complete(Err(error)))),
    };
    (job, Task::new(shared))
}
