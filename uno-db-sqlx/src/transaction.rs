//! Transactions: the loop that runs a closure (or a list of [`Operation`]s) in one transaction on
//! a clean connection, [`TransactionOptions`] and the retry of serialization failures.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use uno_core::Runtime;
use uno_core::resilience::{Backoff, ResilienceError, Retry};
use uno_core::sync::cancellable;

use crate::database::DatabaseKind;
use crate::error::DbError;
use crate::observe::{Stat, event};
use crate::session_state::SessionState;
use crate::tx::Tx;

/// The future an [`Operation`] returns; it may borrow the [`Tx`].
pub type OperationFuture<'t, T> = Pin<Box<dyn Future<Output = Result<T, DbError>> + Send + 't>>;

type OperationFn<T> = dyn for<'t> FnMut(&'t mut Tx) -> OperationFuture<'t, T> + Send;

/// One step of a transaction: a re-runnable closure that gets the open transaction ([`Tx`]) and
/// returns a boxed future. Build it with [`operation`].
///
/// Operations are `FnMut` because a transaction retried after a serialization failure runs every
/// operation again from the start.
pub struct Operation<T = ()> {
    run: Box<OperationFn<T>>,
}

/// Wraps a closure as an [`Operation`]. Write the body as `Box::pin(async move { … })`; values the
/// closure captures are moved into each run's future (copy or clone them for re-runs).
///
/// # Examples
///
/// ```
/// use uno_db_sqlx::{Operation, operation, query};
///
/// let amount = 25;
/// let debit: Operation = operation(move |tx| {
///     Box::pin(async move {
///         tx.execute(&query("UPDATE accounts SET balance = balance - $1 WHERE id = 1").bind(amount))
///             .await?;
///         Ok(())
///     })
/// });
/// # drop(debit);
/// ```
pub fn operation<T, F>(f: F) -> Operation<T>
where
    F: for<'t> FnMut(&'t mut Tx) -> OperationFuture<'t, T> + Send + 'static,
{
    Operation { run: Box::new(f) }
}

impl<T> fmt::Debug for Operation<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operation").finish_non_exhaustive()
    }
}

/// A transaction's isolation level (PostgreSQL and MySQL; SQLite transactions are always
/// serializable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IsolationLevel {
    /// `READ COMMITTED` (PostgreSQL's default).
    ReadCommitted,
    /// `REPEATABLE READ`.
    RepeatableRead,
    /// `SERIALIZABLE`: conflicts fail with a serialization failure; pair it with a retry.
    Serializable,
}

/// How to retry a transaction that failed with a serialization failure, a deadlock or a busy
/// SQLite database ([`DbError::is_serialization_failure`]): every operation runs again from
/// `BEGIN`, on uno-core's retry policy ([`Retry`]).
///
/// [`new`](Self::new) builds the usual policy, [`exponential`](Self::exponential) one with
/// other numbers: up to `max_attempts` attempts in all, sleeping (on the runtime's timer) an
/// exponential backoff from `initial_backoff`, doubled each time up to `max_backoff`, with full
/// jitter. [`from_policy`](Self::from_policy) takes any [`Retry<DbError>`] instead (a budget, a
/// hook, a total deadline…).
///
/// Whatever the policy, only serialization failures are ever retried: any other error — an
/// operation's, a timeout, a cancellation, above all a `COMMIT` whose outcome is unknown — ends
/// the transaction at once. The sleep between attempts stops when the session is cancelled, and
/// the final error keeps [`DbError::attempts`]. Clones share the policy (its counters, jitter
/// source and budget).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::rt::VirtualRuntime;
/// use uno_db_sqlx::TransactionRetry;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// assert_eq!(TransactionRetry::new(&rt).max_attempts(), 3);
/// let retry = TransactionRetry::exponential(&rt, 5, Duration::from_millis(10), Duration::from_millis(500))?;
/// assert_eq!(retry.max_attempts(), 5);
/// assert!(TransactionRetry::exponential(&rt, 0, Duration::ZERO, Duration::ZERO).is_err());
/// # Ok::<(), uno_db_sqlx::DbError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TransactionRetry {
    policy: Retry<DbError>,
}

impl TransactionRetry {
    /// The usual policy on `rt`'s timer: 3 attempts, 10 ms doubling up to 1 s, with full jitter.
    pub fn new(rt: &Runtime) -> Self {
        Self::exponential(rt, 3, Duration::from_millis(10), Duration::from_secs(1))
            .expect("the default transaction retry is a valid configuration")
    }

    /// A retry policy on `rt`'s timer: `max_attempts` in all (1 means no retry), exponential
    /// backoff with full jitter from `initial_backoff` (zero: retry at once), doubled up to
    /// `max_backoff`.
    ///
    /// # Errors
    ///
    /// A config error if `max_attempts` is zero or `max_backoff < initial_backoff`.
    pub fn exponential(
        rt: &Runtime,
        max_attempts: u32,
        initial_backoff: Duration,
        max_backoff: Duration,
    ) -> Result<Self, DbError> {
        if max_attempts == 0 {
            return Err(DbError::config("max_attempts must be at least 1"));
        }
        if max_backoff < initial_backoff {
            return Err(DbError::config(format!(
                "max_backoff of {max_backoff:?} is below initial_backoff of {initial_backoff:?}"
            )));
        }
        // An exponential backoff needs a non-zero base; a zero one means "no wait" as before.
        let backoff = if initial_backoff.is_zero() {
            Backoff::constant(Duration::ZERO)
        } else {
            Backoff::exponential(initial_backoff, 2.0)
                .max_delay(max_backoff)
                .full_jitter()
        };
        let policy = retry_policy(rt, max_attempts, backoff)?;
        Ok(TransactionRetry { policy })
    }

    /// Retries with `policy`, for what [`exponential`](Self::exponential) does not offer: a
    /// [`RetryBudget`](uno_core::resilience::RetryBudget) shared with other work, an
    /// [`on_retry`](uno_core::resilience::RetryBuilder::on_retry) hook, a total deadline
    /// ([`max_duration`](uno_core::resilience::RetryBuilder::max_duration)), a delay taken from
    /// the error…
    ///
    /// Only serialization failures are offered to the policy: its
    /// [`retry_if`](uno_core::resilience::RetryBuilder::retry_if) may narrow them further, never
    /// widen them. Other errors end the transaction at once, counted by the policy as failures
    /// (cancellations as cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, Retry, RetryBudget};
    /// use uno_db_sqlx::{TransactionOptions, TransactionRetry};
    ///
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    /// let budget = RetryBudget::try_new(20, 0.1).unwrap(); // shared by every transaction using it
    /// let policy = Retry::builder(&rt)
    ///     .max_attempts(10)
    ///     .max_duration(Duration::from_secs(2))
    ///     .backoff(Backoff::decorrelated_jitter(Duration::from_millis(5), Duration::from_millis(200)))
    ///     .budget(budget)
    ///     .on_retry(|attempt, err, delay| eprintln!("attempt {attempt} failed ({err}); retry in {delay:?}"))
    ///     .build()
    ///     .unwrap();
    /// let retry = TransactionRetry::from_policy(policy);
    /// assert_eq!(retry.max_attempts(), 10);
    /// let options = TransactionOptions::new().retry(retry.clone());
    /// // ... run transactions, then read the policy's counters:
    /// assert_eq!(retry.policy().stats().retries, 0);
    /// # drop(options);
    /// ```
    pub fn from_policy(policy: Retry<DbError>) -> Self {
        TransactionRetry { policy }
    }

    /// The attempts allowed in all (the first included).
    pub fn max_attempts(&self) -> u32 {
        self.policy.max_attempts()
    }

    /// The retry policy underneath, for its [`stats`](Retry::stats) and budget.
    pub fn policy(&self) -> &Retry<DbError> {
        &self.policy
    }
}

/// The one place this crate builds a uno-core [`Retry`]: only serialization failures, on `rt`.
fn retry_policy(
    rt: &Runtime,
    max_attempts: u32,
    backoff: Backoff,
) -> Result<Retry<DbError>, DbError> {
    Retry::builder(rt)
        .max_attempts(max_attempts)
        .backoff(backoff)
        .retry_if(DbError::is_serialization_failure)
        .build()
        .map_err(|e| DbError::config(e.to_string()))
}

/// How [`run_in_transaction`](crate::SessionOperationGroup::run_in_transaction) runs a transaction.
///
/// # Examples
///
/// ```
/// use uno_db_sqlx::{IsolationLevel, TransactionOptions, TransactionRetry};
///
/// # let vrt = uno_core::rt::VirtualRuntime::new();
/// # let rt = vrt.handle();
/// let options = TransactionOptions::new()
///     .isolation(IsolationLevel::Serializable)
///     .retry(TransactionRetry::new(&rt));
/// assert!(options.retry_policy().is_some());
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "options do nothing until a transaction is run with them"]
pub struct TransactionOptions {
    isolation: Option<IsolationLevel>,
    read_only: bool,
    retry: Option<TransactionRetry>,
}

impl TransactionOptions {
    /// A read-write transaction at the database's default isolation, without retry. On SQLite it
    /// begins with `BEGIN IMMEDIATE` (takes the write lock at once, so it waits on the busy
    /// timeout instead of failing later with `SQLITE_BUSY`).
    pub fn new() -> Self {
        TransactionOptions::default()
    }

    /// The isolation level (PostgreSQL).
    pub fn isolation(mut self, level: IsolationLevel) -> Self {
        self.isolation = Some(level);
        self
    }

    /// A read-only transaction (PostgreSQL `READ ONLY`; SQLite deferred `BEGIN`).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Retry serialization failures, deadlocks and busy errors by running every operation again.
    pub fn retry(mut self, retry: TransactionRetry) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The retry policy, if any.
    pub fn retry_policy(&self) -> Option<&TransactionRetry> {
        self.retry.as_ref()
    }

    fn begin_sql(&self, kind: DatabaseKind) -> &'static str {
        match kind {
            DatabaseKind::Sqlite if self.read_only => "BEGIN",
            DatabaseKind::Sqlite => "BEGIN IMMEDIATE",
            // MySQL takes the isolation level for the next transaction only, before it starts.
            DatabaseKind::MySql => match (self.isolation, self.read_only) {
                (None, false) => "START TRANSACTION",
                (None, true) => "START TRANSACTION READ ONLY",
                (Some(IsolationLevel::ReadCommitted), false) => {
                    "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION"
                }
                (Some(IsolationLevel::ReadCommitted), true) => {
                    "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION READ ONLY"
                }
                (Some(IsolationLevel::RepeatableRead), false) => {
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION"
                }
                (Some(IsolationLevel::RepeatableRead), true) => {
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION READ ONLY"
                }
                (Some(IsolationLevel::Serializable), false) => {
                    "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; START TRANSACTION"
                }
                (Some(IsolationLevel::Serializable), true) => {
                    "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; START TRANSACTION READ ONLY"
                }
            },
            _ => match (self.isolation, self.read_only) {
                (None, false) => "BEGIN",
                (None, true) => "BEGIN READ ONLY",
                (Some(IsolationLevel::ReadCommitted), false) => {
                    "BEGIN ISOLATION LEVEL READ COMMITTED"
                }
                (Some(IsolationLevel::ReadCommitted), true) => {
                    "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
                }
                (Some(IsolationLevel::RepeatableRead), false) => {
                    "BEGIN ISOLATION LEVEL REPEATABLE READ"
                }
                (Some(IsolationLevel::RepeatableRead), true) => {
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                }
                (Some(IsolationLevel::Serializable), false) => "BEGIN ISOLATION LEVEL SERIALIZABLE",
                (Some(IsolationLevel::Serializable), true) => {
                    "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY"
                }
            },
        }
    }
}

/// The transaction loop: attempts, each on a clean connection, retried while allowed.
///
/// Driven by hand through [`Retry::attempts`] because each attempt lends the closure (and the
/// session's slot) mutably, which `Retry::run`'s `FnMut() -> Fut` could not.
pub(crate) async fn run<T, F>(
    session: &SessionState,
    options: &TransactionOptions,
    f: F,
) -> Result<T, DbError>
where
    F: AsyncFnMut(&mut Tx) -> Result<T, DbError>,
{
    let result = run_unnamed(session, options, f).await;
    // Every error leaving a transaction names its database, the operations' own included.
    result.map_err(|e| session.ctx().named(e))
}

async fn run_unnamed<T, F>(
    session: &SessionState,
    options: &TransactionOptions,
    mut f: F,
) -> Result<T, DbError>
where
    F: AsyncFnMut(&mut Tx) -> Result<T, DbError>,
{
    let begin = options.begin_sql(session.ctx().db.kind());
    let mut slot = session.lock().await?;
    let mut attempts = options.retry.as_ref().map(|retry| retry.policy.attempts());
    loop {
        let result = async {
            let conn = session.take(&mut slot).await?;
            // The Tx owns the connection: if this future is dropped at any await, the Tx (and so
            // the connection, in a transaction or in flight) is dropped and closed.
            let mut tx = Tx { conn };
            let result = attempt_once(&mut tx, &mut f, begin).await;
            tx.conn.rollback().await;
            session.put_back(&mut slot, tx.conn);
            result
        }
        .await;
        let err = match result {
            Ok(values) => {
                if let Some(attempts) = attempts {
                    attempts.succeeded();
                }
                return Ok(values);
            }
            Err(err) => err,
        };
        let Some(current) = attempts.take() else {
            return Err(err.with_attempts(1));
        };
        let attempt = current.attempt();
        if !err.is_serialization_failure() {
            // Nothing else is the policy's to retry, whatever its predicate: an operation's error
            // is final, and an outcome-unknown COMMIT must never run twice.
            if err.is_cancelled() {
                let _ = current.give_up(ResilienceError::Cancelled);
                return Err(err.with_attempts(attempt));
            }
            return Err(ended(current.give_up(ResilienceError::Inner(err)), attempt));
        }
        #[cfg(feature = "tracing")]
        let error = err.without_name().to_string();
        // The backoff sleep stops when the session (or its group) is cancelled.
        match cancellable(
            &session.ctx().token,
            current.failed(ResilienceError::Inner(err)),
        )
        .await
        {
            Ok(Ok(next)) => {
                session.ctx().record(Stat::Retry);
                event!(
                    debug, name = %session.ctx().name(), attempt = attempt + 1, error,
                    "transaction retried"
                );
                attempts = Some(next);
            }
            Ok(Err(end)) => return Err(ended(end, attempt)),
            Err(_) => {
                return Err(
                    DbError::cancelled("waiting to retry the transaction").with_attempts(attempt)
                );
            }
        }
    }
}

/// The error that ended a retried transaction at `attempt`, with its attempt count.
fn ended(end: ResilienceError<DbError>, attempt: u32) -> DbError {
    let attempts = end.attempts().unwrap_or(attempt);
    // The policy is only ever given `Inner` errors, and returns them as they are or inside
    // `RetriesExhausted`: there is always one to take out.
    end.into_inner()
        .unwrap_or_else(|| DbError::cancelled("the transaction"))
        .with_attempts(attempts)
}

async fn attempt_once<T, F>(tx: &mut Tx, f: &mut F, begin: &'static str) -> Result<T, DbError>
where
    F: AsyncFnMut(&mut Tx) -> Result<T, DbError>,
{
    tx.conn.begin(begin).await?;
    let token = tx.conn.ctx().token.clone();
    // The whole closure (not only its statements) stops when the session is cancelled.
    let value = match cancellable(&token, f(tx)).await {
        Ok(result) => result?,
        Err(_) => return Err(DbError::cancelled("the transaction")),
    };
    tx.conn.commit().await?;
    Ok(value)
}

/// [`run`] over a list of [`Operation`]s: one closure running them in order, errors naming the
/// failed operation's index.
pub(crate) async fn run_operations<T>(
    session: &SessionState,
    mut operations: Vec<Operation<T>>,
    options: &TransactionOptions,
) -> Result<Vec<T>, DbError> {
    if operations.is_empty() {
        return Err(DbError::config("no operations to run"));
    }
    // The operation running (its index + 1; 0 between operations), so that a cancellation of
    // the whole closure still names it.
    let running = Arc::new(AtomicUsize::new(0));
    let result = run(session, options, {
        let running = running.clone();
        async move |tx| {
            let mut values = Vec::with_capacity(operations.len());
            for (index, op) in operations.iter_mut().enumerate() {
                running.store(index + 1, Ordering::Relaxed);
                let value = (op.run)(tx).await.map_err(|e| e.at_operation(index))?;
                values.push(value);
            }
            running.store(0, Ordering::Relaxed);
            Ok(values)
        }
    })
    .await;
    result.map_err(|e| match running.load(Ordering::Relaxed) {
        0 => e,
        index if e.is_cancelled() => e.at_operation(index - 1),
        _ => e,
    })
}
