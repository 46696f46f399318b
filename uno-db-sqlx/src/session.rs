//! [`Session`] and [`enhanced_async_session`]: a checked-out connection with per-statement
//! timeouts that is released clean on every exit path.

use std::fmt;
use std::sync::Arc;

use uno_core::sync::CancellationToken;

use crate::connection::{Conn, Ctx, no_row};
use crate::database::Database;
use crate::error::DbError;
use crate::executor::DriverConnection;
use crate::query::{Query, Row, Value};
use crate::session_state::SessionState;
use crate::stats::Counters;
use crate::transaction::{self, Operation, TransactionOptions};
use crate::tx::Tx;

/// A database session: one pooled connection with per-statement timeouts, released clean on
/// every exit path.
///
/// Get one with [`enhanced_async_session`] or
/// [`SessionOperationGroup::create_session`](crate::SessionOperationGroup::create_session).
/// Run transactions with [`transaction`](Self::transaction) (an async closure) and sqlx's own API
/// with [`with_connection`](Self::with_connection).
/// Statements run one at a time (concurrent calls on one session wait their turn).
///
/// The guarantees, whatever happens:
/// - a statement past the statement timeout fails with [`DbError::is_timeout`];
/// - a connection whose state is in doubt — its statement timed out, was cancelled, or its future
///   was dropped mid-await — is **never returned to the pool as it is**: it is cleaned in the
///   background (the statement ends, `ROLLBACK`, a check) and recycled, or closed when that fails
///   or takes longer than [`recycle_timeout`](crate::DatabaseOptions::recycle_timeout); the
///   session takes another connection for its next statement;
/// - a transaction never outlives [`transaction`](Self::transaction) or
///   [`run_in_transaction`](Self::run_in_transaction): it is committed, rolled back, or its
///   connection is rolled back in the background or closed;
/// - dropping the session returns its (clean) connection to the pool.
///
/// # Examples
///
/// ```
/// # uno_smol::run(|rt| async move {
/// # let dir = tempfile::tempdir().unwrap();
/// use uno_db_sqlx::{Database, DatabaseOptions, enhanced_async_session, query};
///
/// let db = Database::open_sqlite(&rt, dir.path().join("s.db"), DatabaseOptions::new()).await?;
/// let session = enhanced_async_session(&db).await?;
/// session.execute(&query("CREATE TABLE t (x BIGINT)")).await?;
/// assert_eq!(session.execute(&query("INSERT INTO t VALUES ($1), ($2)").bind(1).bind(2)).await?, 2);
/// let total = session.fetch_scalar(&query("SELECT SUM(x) FROM t")).await?;
/// assert_eq!(total.as_i64(), Some(3));
/// session.close().await;
/// # db.close().await;
/// # Ok::<(), uno_db_sqlx::DbError>(())
/// # }).unwrap();
/// ```
pub struct Session {
    shared: Arc<SessionState>,
    /// What [`Session::transaction`] uses: the group's options, or the defaults.
    options: TransactionOptions,
}

/// Opens a session on `db`: checks a connection out of its pool (waiting at most the acquire
/// timeout) and returns a [`Session`] that keeps it until the session is closed or dropped.
///
/// # Errors
///
/// [`DbError::is_acquire_timeout`] when the pool stays exhausted; a connection error when the pool
/// is closed or the database cannot be reached.
///
/// # Cancel safety
///
/// Cancel safe: a connection acquired when the future is dropped goes back to the pool (or is
/// closed if it was being set up).
///
/// # Examples
///
/// ```
/// # uno_async_std::run(|rt| async move {
/// # let dir = tempfile::tempdir().unwrap();
/// use uno_db_sqlx::{Database, DatabaseOptions, enhanced_async_session, query};
///
/// let db = Database::open_sqlite(&rt, dir.path().join("e.db"), DatabaseOptions::new()).await?;
/// let session = enhanced_async_session(&db).await?;
/// let row = session.fetch_one(&query("SELECT 1 + 1")).await?;
/// assert_eq!(row.try_i64(0)?, 2);
/// drop(session); // Database::close waits for every session to let go of its connection
/// db.close().await;
/// # Ok::<(), uno_db_sqlx::DbError>(())
/// # }).unwrap();
/// ```
pub async fn enhanced_async_session(db: &Database) -> Result<Session, DbError> {
    Session::open(
        db,
        CancellationToken::new(),
        vec![db.shared.counters.clone()],
        TransactionOptions::new(),
    )
    .await
}

impl Session {
    pub(crate) async fn open(
        db: &Database,
        token: CancellationToken,
        counters: Vec<Arc<Counters>>,
        options: TransactionOptions,
    ) -> Result<Session, DbError> {
        let ctx = Arc::new(Ctx {
            rt: db.runtime().clone(),
            db: db.clone(),
            statement_timeout: db.options().get_statement_timeout(),
            token,
            counters,
        });
        let conn = Conn::acquire(&ctx).await?;
        Ok(Session {
            shared: Arc::new(SessionState::new(ctx, conn)),
            options,
        })
    }

    /// The state the session shares with its transactions and its group.
    pub(crate) fn state(&self) -> &Arc<SessionState> {
        &self.shared
    }

    /// The database this session belongs to.
    pub fn database(&self) -> &Database {
        &self.shared.ctx().db
    }

    /// Whether the session was closed (by [`close`](Self::close) or its group).
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Cancels whatever the session is running and closes it: a statement in flight fails with
    /// [`DbError::is_cancelled`] (its connection is cleaned or closed), an open transaction is
    /// rolled back,
    /// later calls fail with [`DbError::is_session_closed`].
    pub fn cancel(&self) {
        self.shared.cancel();
    }

    /// Runs a statement outside any transaction (autocommit) and returns the rows it affected.
    ///
    /// # Errors
    ///
    /// The database's error; [`DbError::is_timeout`] past the statement timeout;
    /// [`DbError::is_cancelled`] / [`DbError::is_session_closed`] when the session was cancelled.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before the statement is sent has no effect. Dropping it while the
    /// statement is in flight leaves the connection in doubt: it is cleaned in the background or
    /// closed (the server may or may not have run the statement, as with any cancelled autocommit
    /// statement); the session takes another connection for its next statement.
    pub async fn execute(&self, q: &Query) -> Result<u64, DbError> {
        let mut slot = self.shared.lock().await?;
        let mut conn = self.shared.take(&mut slot).await?;
        let result = conn.execute(q).await;
        self.shared.put_back(&mut slot, conn);
        result
    }

    /// Runs a query and returns all its rows.
    ///
    /// # Errors
    ///
    /// As [`execute`](Self::execute), and [`DbError::is_decode`] for a column type this crate does
    /// not convert (cast it in SQL).
    ///
    /// # Cancel safety
    ///
    /// As [`execute`](Self::execute).
    pub async fn fetch_all(&self, q: &Query) -> Result<Vec<Row>, DbError> {
        let mut slot = self.shared.lock().await?;
        let mut conn = self.shared.take(&mut slot).await?;
        let result = conn.fetch_all(q).await;
        self.shared.put_back(&mut slot, conn);
        result
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
    pub async fn fetch_optional(&self, q: &Query) -> Result<Option<Row>, DbError> {
        let mut slot = self.shared.lock().await?;
        let mut conn = self.shared.take(&mut slot).await?;
        let result = conn.fetch_optional(q).await;
        self.shared.put_back(&mut slot, conn);
        result
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
    pub async fn fetch_one(&self, q: &Query) -> Result<Row, DbError> {
        self.fetch_optional(q).await?.ok_or_else(|| no_row(q))
    }

    /// Runs a query and returns the first column of its first row (for counts and sums).
    ///
    /// # Errors
    ///
    /// As [`fetch_one`](Self::fetch_one).
    ///
    /// # Cancel safety
    ///
    /// As [`execute`](Self::execute).
    pub async fn fetch_scalar(&self, q: &Query) -> Result<Value, DbError> {
        let row = self.fetch_one(q).await?;
        Ok(row.values().first().cloned().unwrap_or(Value::Null))
    }

    /// Lends the session's sqlx connection to `f`, outside any transaction (autocommit), for
    /// sqlx's own API: `Executor`, `query_as` with `FromRow` types, `query!`/`query_as!`. Name the
    /// driver's connection type in the closure's argument (`&mut sqlx::SqliteConnection`,
    /// `&mut sqlx::PgConnection`, `&mut sqlx::MySqlConnection`).
    ///
    /// The call counts as one statement: the connection is marked in doubt until `f` returns,
    /// and `f` must finish within the statement timeout. For several statements that must commit
    /// together use [`transaction`](Self::transaction) and [`Tx::with_connection`].
    ///
    /// `query!` and `query_as!` check their SQL against a live database at build time
    /// (`DATABASE_URL`), or against data saved by `cargo sqlx prepare` with `SQLX_OFFLINE=true`:
    /// that is between the user and sqlx; what they expand to runs here like any other query.
    ///
    /// # Errors
    ///
    /// `f`'s error (a `sqlx::Error` is classified as the crate's own statements' are);
    /// [`DbError::is_timeout`] past the statement timeout; [`DbError::is_cancelled`] /
    /// [`DbError::is_session_closed`] when the session was cancelled or closed;
    /// [`DbError::is_config`] if the connection type is not this database's (`f` is not run).
    ///
    /// # Cancel safety
    ///
    /// As [`execute`](Self::execute): dropped while `f` runs, the connection is cleaned in the
    /// background (or closed) and the session takes another for its next statement.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::run(|rt| async move {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use sqlx::SqliteConnection;
    /// use uno_db_sqlx::{Database, DatabaseOptions, enhanced_async_session};
    ///
    /// let db = Database::open_sqlite(&rt, dir.path().join("w.db"), DatabaseOptions::new()).await?;
    /// let session = enhanced_async_session(&db).await?;
    /// let (n,): (i64,) = session
    ///     .with_connection(async |c: &mut SqliteConnection| {
    ///         sqlx::query_as("SELECT 40 + ?").bind(2_i64).fetch_one(c).await
    ///     })
    ///     .await?;
    /// assert_eq!(n, 42);
    /// # drop(session);
    /// # db.close().await;
    /// # Ok::<(), uno_db_sqlx::DbError>(())
    /// # }).unwrap();
    /// ```
    pub async fn with_connection<C, F, R, E>(&self, f: F) -> Result<R, DbError>
    where
        C: DriverConnection,
        F: AsyncFnOnce(&mut C) -> Result<R, E>,
        DbError: From<E>,
    {
        let mut slot = self.shared.lock().await?;
        let mut conn = self.shared.take(&mut slot).await?;
        let result = conn.lend(f).await;
        self.shared.put_back(&mut slot, conn);
        result
    }

    /// Runs the async closure `f` in one transaction on this session: `BEGIN`, `f(&mut tx)`,
    /// `COMMIT` — or `ROLLBACK` if `f` returns an error, which comes back as it is. Uses the
    /// session's transaction options: its group's, or the defaults (see
    /// [`transaction_with`](Self::transaction_with)).
    ///
    /// `f` is an `AsyncFnMut`: with a retry policy, a serialization failure, deadlock or busy
    /// database runs it again from `BEGIN`, so it must be re-runnable (no side effects outside the
    /// transaction, or idempotent ones).
    ///
    /// In a spawned task, write `async move |tx| { .. }` (moving clones into the closure): a
    /// closure that borrows the task's locals currently trips the compiler's `Send` check on the
    /// task ("implementation of `Send` is not general enough"), a limitation of async closures.
    ///
    /// - A statement past the statement timeout fails with [`DbError::is_timeout`]; the
    ///   transaction cannot go on and is rolled back (its connection cleaned or closed).
    /// - If `COMMIT` fails, the transaction did not commit; if its reply never arrived (timeout,
    ///   cancellation, broken connection) the error is [`DbError::is_outcome_unknown`] — never
    ///   reported as success or as failure, and never retried.
    ///
    /// # Errors
    ///
    /// `f`'s error; the errors above; [`DbError::is_cancelled`] /
    /// [`DbError::is_session_closed`] once the session is cancelled or closed.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future at any await commits nothing that was not already committed: the
    /// connection, inside the transaction or with a statement in flight, is rolled back in the
    /// background or closed (the server then rolls back); no connection returns to the pool in
    /// a transaction. Only a drop during `COMMIT` leaves the outcome to the server, unreported:
    /// a caller that must know should let the statement timeout fire instead, which reports
    /// [`DbError::is_outcome_unknown`].
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::run(|rt| async move {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use uno_db_sqlx::{Database, DatabaseOptions, DbError, enhanced_async_session, query};
    ///
    /// let db = Database::open_sqlite(&rt, dir.path().join("t.db"), DatabaseOptions::new()).await?;
    /// let session = enhanced_async_session(&db).await?;
    /// session.execute(&query("CREATE TABLE accounts (id BIGINT, balance BIGINT)")).await?;
    /// session.execute(&query("INSERT INTO accounts VALUES (1, 100), (2, 0)")).await?;
    /// let amount = 30;
    /// let left = session
    ///     .transaction(async |tx| {
    ///         let debit = query("UPDATE accounts SET balance = balance - $1 WHERE id = 1");
    ///         tx.execute(&debit.bind(amount)).await?;
    ///         let credit = query("UPDATE accounts SET balance = balance + $1 WHERE id = 2");
    ///         tx.execute(&credit.bind(amount)).await?;
    ///         let left = tx.fetch_scalar(&query("SELECT balance FROM accounts WHERE id = 1")).await?;
    ///         if left.as_i64() < Some(0) {
    ///             return Err(DbError::operation_failed("insufficient funds")); // rolled back
    ///         }
    ///         Ok(left)
    ///     })
    ///     .await?;
    /// assert_eq!(left.as_i64(), Some(70));
    /// # drop(session);
    /// # db.close().await;
    /// # Ok::<(), DbError>(())
    /// # }).unwrap();
    /// ```
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: AsyncFnMut(&mut Tx) -> Result<T, DbError>,
    {
        transaction::run(&self.shared, &self.options, f).await
    }

    /// As [`transaction`](Self::transaction), with `options` (isolation, read-only, retry)
    /// instead of the session's.
    ///
    /// # Errors
    ///
    /// As [`transaction`](Self::transaction).
    ///
    /// # Cancel safety
    ///
    /// As [`transaction`](Self::transaction).
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::run(|rt| async move {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use uno_db_sqlx::{Database, DatabaseOptions, TransactionOptions, TransactionRetry};
    /// use uno_db_sqlx::{enhanced_async_session, query};
    ///
    /// let db = Database::open_sqlite(&rt, dir.path().join("r.db"), DatabaseOptions::new()).await?;
    /// let session = enhanced_async_session(&db).await?;
    /// let options = TransactionOptions::new().retry(TransactionRetry::standard(&rt));
    /// let n = session
    ///     .transaction_with(options, async |tx| tx.fetch_scalar(&query("SELECT 5")).await)
    ///     .await?;
    /// assert_eq!(n.as_i64(), Some(5));
    /// # drop(session);
    /// # db.close().await;
    /// # Ok::<(), uno_db_sqlx::DbError>(())
    /// # }).unwrap();
    /// ```
    pub async fn transaction_with<T, F>(
        &self,
        options: TransactionOptions,
        f: F,
    ) -> Result<T, DbError>
    where
        F: AsyncFnMut(&mut Tx) -> Result<T, DbError>,
    {
        transaction::run(&self.shared, &options, f).await
    }

    /// Runs `operations` in one transaction on this session: all commit or none do. See
    /// [`SessionOperationGroup::run_in_transaction`](crate::SessionOperationGroup::run_in_transaction)
    /// for the rules; this form takes its [`TransactionOptions`] explicitly. The closure form,
    /// [`transaction_with`](Self::transaction_with), needs no [`Operation`] wrappers.
    ///
    /// # Errors
    ///
    /// As [`SessionOperationGroup::run_in_transaction`](crate::SessionOperationGroup::run_in_transaction).
    ///
    /// # Cancel safety
    ///
    /// As [`transaction`](Self::transaction).
    pub async fn run_in_transaction<T>(
        &self,
        operations: Vec<Operation<T>>,
        options: TransactionOptions,
    ) -> Result<Vec<T>, DbError> {
        transaction::run_operations(&self.shared, operations, &options).await
    }

    /// Releases the session's connection to the pool (it holds no transaction at rest) and closes
    /// the session.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped while waiting for a running statement of this session, the session is
    /// closed all the same and its connection is released when that statement ends.
    pub async fn close(self) {
        self.shared.mark_closed();
        let conn = self.shared.take_at_rest().await;
        if let Some(conn) = conn {
            conn.release().await;
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("database", &self.shared.ctx().db.kind())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
