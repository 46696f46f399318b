//! Transactions: [`Tx`], [`Operation`]s, [`TransactionOptions`] and the retry of serialization
//! failures.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use uno_core::sync::cancellable;

use crate::connection::{Conn, no_row};
use crate::database::DatabaseKind;
use crate::error::DbError;
use crate::query::{Query, Row, Value};
use crate::session::SessionShared;

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

/// An open transaction, handed to each [`Operation`]. Its statements run under the session's
/// statement timeout.
///
/// After one of its statements times out or is cancelled, the connection's state is unknown: every
/// later statement fails at once, and the transaction ends with the connection closed (the server
/// rolls back). Return the error from the operation.
pub struct Tx {
    conn: Conn,
}

impl Tx {
    /// Whether this transaction runs on SQLite or PostgreSQL.
    pub fn kind(&self) -> DatabaseKind {
        self.conn.ctx().db.kind()
    }

    /// Runs a statement and returns the rows it affected.
    ///
    /// # Errors
    ///
    /// The database's error; [`DbError::is_timeout`] past the statement timeout;
    /// [`DbError::is_cancelled`] when the session or group was cancelled.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future (or the transaction's) while the statement is in flight closes the
    /// connection at the end of the transaction: nothing of the transaction is committed.
    pub async fn execute(&mut self, q: &Query) -> Result<u64, DbError> {
        self.conn.execute(q).await
    }

    /// Runs a query and returns all its rows.
    ///
    /// # Errors
    ///
    /// As [`execute`](Self::execute), and [`DbError::is_decode`] for unsupported column types.
    ///
    /// # Cancel safety
    ///
    /// As [`execute`](Self::execute).
    pub async fn fetch_all(&mut self, q: &Query) -> Result<Vec<Row>, DbError> {
        self.conn.fetch_all(q).await
    }

    /// Runs a query and returns its first row, if any.
    ///
    /// # Errors
    ///
    /// As [`fetch_all`](Self::fetch_all).
    ///
    /// # Cancel safety
    ///
    /// As [`execute`](Self::execute).
    pub async fn fetch_optional(&mut self, q: &Query) -> Result<Option<Row>, DbError> {
        self.conn.fetch_optional(q).await
    }

    /// Runs a query and returns its first row.
    ///
    /// # Errors
    ///
    /// As [`fetch_all`](Self::fetch_all), and [`DbError::is_decode`] if there is no row.
    ///
    /// # Cancel safety
    ///
    /// As [`execute`](Self::execute).
    pub async fn fetch_one(&mut self, q: &Query) -> Result<Row, DbError> {
        self.conn.fetch_optional(q).await?.ok_or_else(|| no_row(q))
    }

    /// Runs a query and returns the first column of its first row.
    ///
    /// # Errors
    ///
    /// As [`fetch_one`](Self::fetch_one).
    ///
    /// # Cancel safety
    ///
    /// As [`execute`](Self::execute).
    pub async fn fetch_scalar(&mut self, q: &Query) -> Result<Value, DbError> {
        let row = self.fetch_one(q).await?;
        Ok(row.values().first().cloned().unwrap_or(Value::Null))
    }
}

impl fmt::Debug for Tx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tx")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

/// A transaction's isolation level (PostgreSQL; SQLite transactions are always serializable).
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
/// SQLite database: up to `max_attempts` attempts in all, sleeping (on uno's timer) an exponential
/// backoff from `initial_backoff`, doubled each time up to `max_backoff`, with jitter.
///
/// A bounded retry of this crate's own: uno-core's resilience policies were not available to this
/// crate when it was written; the semantics match (attempt count kept on the final error).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_db_sqlx::TransactionRetry;
///
/// let retry = TransactionRetry::new(5, Duration::from_millis(10), Duration::from_millis(500))?;
/// assert_eq!(retry.max_attempts(), 5);
/// assert!(TransactionRetry::new(0, Duration::ZERO, Duration::ZERO).is_err());
/// # Ok::<(), uno_db_sqlx::DbError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionRetry {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl TransactionRetry {
    /// A retry policy.
    ///
    /// # Errors
    ///
    /// A config error if `max_attempts` is zero or `max_backoff < initial_backoff`.
    pub fn new(
        max_attempts: u32,
        initial_backoff: Duration,
        max_backoff: Duration,
    ) -> Result<Self, DbError> {
        if max_attempts == 0 {
            return Err(DbError::config(
                "TransactionRetry needs max_attempts >= 1 (1 means no retry)",
            ));
        }
        if max_backoff < initial_backoff {
            return Err(DbError::config(format!(
                "TransactionRetry's max_backoff ({max_backoff:?}) is below its initial_backoff \
                 ({initial_backoff:?}): swap them"
            )));
        }
        Ok(TransactionRetry {
            max_attempts,
            initial_backoff,
            max_backoff,
        })
    }

    /// The attempts allowed in all (the first included).
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The sleep before attempt `attempt + 1` (`attempt` >= 1): exponential with "equal jitter".
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << (attempt - 1).min(20))
            .min(self.max_backoff);
        let half = exp / 2;
        let jitter = half.mul_f64(next_unit());
        half + jitter
    }
}

impl Default for TransactionRetry {
    /// 3 attempts, 10 ms doubling up to 1 s.
    fn default() -> Self {
        TransactionRetry {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// A number in [0, 1) from a process-wide SplitMix64 sequence (jitter needs no clock).
fn next_unit() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let mut z = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// How [`run_in_transaction`](crate::SessionOperationGroup::run_in_transaction) runs a transaction.
///
/// # Examples
///
/// ```
/// use uno_db_sqlx::{IsolationLevel, TransactionOptions, TransactionRetry};
///
/// let options = TransactionOptions::new()
///     .isolation(IsolationLevel::Serializable)
///     .retry(TransactionRetry::default());
/// assert!(options.get_retry().is_some());
/// ```
#[derive(Debug, Clone, Default)]
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
    pub fn get_retry(&self) -> Option<&TransactionRetry> {
        self.retry.as_ref()
    }

    fn begin_sql(&self, kind: DatabaseKind) -> &'static str {
        match kind {
            DatabaseKind::Sqlite if self.read_only => "BEGIN",
            DatabaseKind::Sqlite => "BEGIN IMMEDIATE",
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
pub(crate) async fn run<T>(
    session: &SessionShared,
    mut operations: Vec<Operation<T>>,
    options: &TransactionOptions,
) -> Result<Vec<T>, DbError> {
    if operations.is_empty() {
        return Err(DbError::config(
            "run_in_transaction got no operations: pass at least one",
        ));
    }
    let begin = options.begin_sql(session.ctx.db.kind());
    let max_attempts = options.retry.map_or(1, |r| r.max_attempts);
    let mut slot = session.lock().await?;
    let mut attempt = 1;
    loop {
        let conn = session.take(&mut slot).await?;
        // The Tx owns the connection: if this future is dropped at any await, the Tx (and so the
        // connection, in a transaction or in flight) is dropped and closed.
        let mut tx = Tx { conn };
        let result = attempt_once(&mut tx, &mut operations, begin).await;
        tx.conn.rollback().await;
        session.put_back(&mut slot, tx.conn);
        match result {
            Ok(values) => return Ok(values),
            Err(e) if e.is_serialization_failure() && attempt < max_attempts => {
                session.ctx.bump(|c| &c.retries);
                if let Some(retry) = &options.retry {
                    let pause = retry.backoff(attempt);
                    cancellable(&session.ctx.token, session.ctx.rt.sleep(pause))
                        .await
                        .map_err(|_| DbError::cancelled("waiting to retry the transaction"))?;
                }
                attempt += 1;
            }
            Err(e) => return Err(e.with_attempts(attempt)),
        }
    }
}

async fn attempt_once<T>(
    tx: &mut Tx,
    operations: &mut [Operation<T>],
    begin: &'static str,
) -> Result<Vec<T>, DbError> {
    tx.conn.begin(begin).await?;
    let token = tx.conn.ctx().token.clone();
    let mut values = Vec::with_capacity(operations.len());
    for (index, op) in operations.iter_mut().enumerate() {
        // The whole operation (not only its statements) stops when the session is cancelled.
        match cancellable(&token, (op.run)(tx)).await {
            Ok(Ok(value)) => values.push(value),
            Ok(Err(e)) => return Err(e.at_operation(index)),
            Err(_) => {
                return Err(DbError::cancelled("the transaction's operation").at_operation(index));
            }
        }
    }
    tx.conn.commit().await?;
    Ok(values)
}
