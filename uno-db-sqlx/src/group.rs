//! [`SessionOperationGroup`]: several sessions, transactions over lists of operations, and one
//! place that releases everything when the group ends.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use uno_core::sync::CancellationToken;

use crate::database::Database;
use crate::error::DbError;
use crate::session::Session;
use crate::session_state::SessionState;
use crate::stats::{Counters, DbStats};
use crate::transaction::{self, Operation, TransactionOptions};
use crate::tx::Tx;

/// How long [`SessionOperationGroup::close`] waits for a session busy with a statement that
/// ignores cancellation; past it the session's connection is released when the statement ends.
const CLOSE_PATIENCE: Duration = Duration::from_secs(5);

/// What a [`SessionOperationGroup`] did, reported by [`close`](SessionOperationGroup::close) (and
/// readable at any time with [`report`](SessionOperationGroup::report)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupReport {
    /// Sessions the group created.
    pub sessions: usize,
    /// Sessions that still held a connection when the group ended, released by it.
    pub released: usize,
    /// What the group's sessions committed, rolled back, closed in doubt or retried.
    pub stats: DbStats,
}

impl fmt::Display for GroupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sessions ({} released at the end): {}",
            self.sessions, self.released, self.stats
        )
    }
}

/// Uno's `SessionOperationGroup`: creates sessions, runs lists of operations in one transaction
/// each, and releases every session when it ends.
///
/// - [`create_session`](Self::create_session) as often as needed;
/// - [`run_in_transaction`](Self::run_in_transaction)`(&session, ops)`: all operations commit or
///   none do; an operation's error names its index; a `COMMIT` whose reply never came is reported
///   as outcome unknown; serialization failures, deadlocks and busy errors are retried when the
///   group's [`TransactionOptions`] say so;
/// - [`close`](Self::close) (or drop): cancels what the sessions are running, rolls back or closes
///   their connections, and reports it. Sessions of a closed group fail with
///   [`DbError::is_session_closed`].
///
/// # Examples
///
/// ```
/// # uno_tokio::run(|rt| async move {
/// # let dir = tempfile::tempdir().unwrap();
/// use uno_db_sqlx::{Database, DatabaseOptions, DbError, SessionOperationGroup, operation, query};
///
/// let db = Database::open_sqlite(&rt, dir.path().join("bank.db"), DatabaseOptions::new()).await?;
/// let group = SessionOperationGroup::new(&db);
/// let session = group.create_session().await?;
/// session.execute(&query("CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT)")).await?;
/// session.execute(&query("INSERT INTO accounts VALUES (1, 100), (2, 0)")).await?;
///
/// let transfer = |amount: i64| {
///     vec![
///         operation(move |tx| Box::pin(async move {
///             tx.execute(&query("UPDATE accounts SET balance = balance - $1 WHERE id = 1").bind(amount)).await?;
///             Ok(())
///         })),
///         operation(move |tx| Box::pin(async move {
///             let left = tx.fetch_scalar(&query("SELECT balance FROM accounts WHERE id = 1")).await?;
///             if left.as_i64() < Some(0) {
///                 return Err(DbError::operation_failed("insufficient funds"));
///             }
///             tx.execute(&query("UPDATE accounts SET balance = balance + $1 WHERE id = 2").bind(amount)).await?;
///             Ok(())
///         })),
///     ]
/// };
/// group.run_in_transaction(&session, transfer(30)).await?;
/// let err = group.run_in_transaction(&session, transfer(500)).await.unwrap_err();
/// assert_eq!(err.operation_index(), Some(1)); // and nothing of it was committed
///
/// let balance = session.fetch_scalar(&query("SELECT balance FROM accounts WHERE id = 2")).await?;
/// assert_eq!(balance.as_i64(), Some(30));
/// let report = group.close().await;
/// assert_eq!((report.stats.committed, report.stats.rolled_back), (1, 1));
/// # db.close().await;
/// # Ok::<(), DbError>(())
/// # }).unwrap().unwrap();
/// ```
pub struct SessionOperationGroup {
    db: Database,
    options: TransactionOptions,
    token: CancellationToken,
    counters: Arc<Counters>,
    sessions: Mutex<Vec<Weak<SessionState>>>,
    created: Mutex<usize>,
    closed: AtomicBool,
}

impl SessionOperationGroup {
    /// A group on `db` whose transactions use the default [`TransactionOptions`] (no retry).
    pub fn new(db: &Database) -> Self {
        Self::with_options(db, TransactionOptions::new())
    }

    /// A group whose transactions use `options` (for example a retry policy).
    pub fn with_options(db: &Database, options: TransactionOptions) -> Self {
        SessionOperationGroup {
            db: db.clone(),
            options,
            token: CancellationToken::new(),
            counters: Arc::new(Counters::default()),
            sessions: Mutex::new(Vec::new()),
            created: Mutex::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Opens a session that belongs to the group (see
    /// [`enhanced_async_session`](crate::enhanced_async_session)).
    ///
    /// # Errors
    ///
    /// [`DbError::is_session_closed`] if the group was closed; otherwise as
    /// [`enhanced_async_session`](crate::enhanced_async_session).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection acquired when the future is dropped goes back to the pool.
    pub async fn create_session(&self) -> Result<Session, DbError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(DbError::session_closed().in_database(self.db.shared.observer.name()));
        }
        let counters = vec![
            self.db.shared.observer.counters().clone(),
            self.counters.clone(),
        ];
        let session = Session::open(
            &self.db,
            self.token.child_token(),
            counters,
            self.options.clone(),
        )
        .await?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|s| s.strong_count() > 0);
        sessions.push(Arc::downgrade(session.state()));
        *self.created.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        if self.closed.load(Ordering::Acquire) {
            // Closed while we were acquiring: do not hand out a session the group forgot.
            session.cancel();
        }
        Ok(session)
    }

    /// Runs `operations` in order in one transaction on `session`: all commit or none do.
    ///
    /// - The transaction begins with `BEGIN` (SQLite: `BEGIN IMMEDIATE`, so a writer waits for
    ///   the lock instead of failing later) at the options' isolation level.
    /// - An operation's error rolls the transaction back and is returned with
    ///   [`DbError::operation_index`] set; the connection is reused.
    /// - A statement past the statement timeout fails with [`DbError::is_timeout`]; the connection
    ///   is rolled back in the background (or closed), so nothing of the transaction is committed.
    /// - If `COMMIT` fails, the transaction did not commit; if its reply never arrived (timeout,
    ///   cancellation, broken connection) the error is [`DbError::is_outcome_unknown`] — never
    ///   reported as success or as failure.
    /// - With a retry policy, a serialization failure, deadlock or busy database rolls back and
    ///   runs every operation again (they are `FnMut`); the final error keeps
    ///   [`DbError::attempts`].
    ///
    /// # Errors
    ///
    /// As above; [`DbError::is_config`] for an empty list; [`DbError::is_session_closed`] /
    /// [`DbError::is_cancelled`] once the group is closed.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future at any await commits nothing that was not already committed: a
    /// connection inside the transaction (or with a statement in flight) is rolled back in the
    /// background or closed, and the
    /// server rolls the transaction back; no connection returns to the pool in a transaction.
    /// Only a drop during `COMMIT` leaves the outcome to the server (and unreported).
    pub async fn run_in_transaction<T>(
        &self,
        session: &Session,
        operations: Vec<Operation<T>>,
    ) -> Result<Vec<T>, DbError> {
        transaction::run_operations(session.state(), operations, &self.options).await
    }

    /// As [`run_in_transaction`](Self::run_in_transaction) with other options.
    ///
    /// # Errors
    ///
    /// As [`run_in_transaction`](Self::run_in_transaction).
    ///
    /// # Cancel safety
    ///
    /// As [`run_in_transaction`](Self::run_in_transaction).
    pub async fn run_in_transaction_with<T>(
        &self,
        session: &Session,
        operations: Vec<Operation<T>>,
        options: TransactionOptions,
    ) -> Result<Vec<T>, DbError> {
        transaction::run_operations(session.state(), operations, &options).await
    }

    /// Runs the async closure `f` in one transaction on `session` with the group's options (its
    /// retry policy, if any): [`Session::transaction`] for a session of this group.
    ///
    /// # Errors
    ///
    /// As [`Session::transaction`].
    ///
    /// # Cancel safety
    ///
    /// As [`Session::transaction`].
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_tokio::run(|rt| async move {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use uno_db_sqlx::{Database, DatabaseOptions, SessionOperationGroup, query};
    ///
    /// let db = Database::open_sqlite(&rt, dir.path().join("g.db"), DatabaseOptions::new()).await?;
    /// let group = SessionOperationGroup::new(&db);
    /// let session = group.create_session().await?;
    /// session.execute(&query("CREATE TABLE t (x BIGINT)")).await?;
    /// group
    ///     .transaction(&session, async |tx| {
    ///         tx.execute(&query("INSERT INTO t VALUES (1), (2)")).await?;
    ///         Ok(())
    ///     })
    ///     .await?;
    /// assert_eq!(group.close().await.stats.committed, 1);
    /// # db.close().await;
    /// # Ok::<(), uno_db_sqlx::DbError>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub async fn transaction<T, F>(&self, session: &Session, f: F) -> Result<T, DbError>
    where
        F: AsyncFnMut(&mut Tx) -> Result<T, DbError>,
    {
        transaction::run(session.state(), &self.options, f).await
    }

    /// What the group has done so far.
    pub fn report(&self) -> GroupReport {
        GroupReport {
            sessions: *self.created.lock().unwrap_or_else(|e| e.into_inner()),
            released: 0,
            stats: self.counters.snapshot(),
        }
    }

    /// Ends the group: cancels whatever its sessions run, closes them, rolls back or closes their
    /// connections, and reports what it did.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the sessions are cancelled and closed at the first poll; dropping the future
    /// afterwards only stops waiting — the remaining connections are released as in `Drop`.
    pub async fn close(self) -> GroupReport {
        let sessions = self.shut();
        let mut released = 0;
        for session in sessions {
            let rt = &session.ctx().rt;
            let Ok(conn) = rt.timeout(CLOSE_PATIENCE, "", session.take_at_rest()).await else {
                continue;
            };
            if let Some(conn) = conn {
                released += 1;
                conn.release().await;
            }
        }
        GroupReport {
            released,
            ..self.report()
        }
    }

    /// Marks the group and its sessions closed, cancels them, and returns the live ones.
    fn shut(&self) -> Vec<Arc<SessionState>> {
        self.closed.store(true, Ordering::Release);
        let sessions: Vec<_> = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .filter_map(|s| s.upgrade())
            .collect();
        for s in &sessions {
            s.mark_closed();
        }
        self.token.cancel();
        sessions
    }
}

impl Drop for SessionOperationGroup {
    /// Cancels every session and releases the connections of idle ones at once (clean ones go back
    /// to the pool); a busy session's connection is released (or cleaned, if in doubt) when its
    /// cancelled statement returns.
    fn drop(&mut self) {
        for session in self.shut() {
            drop(session.try_take_at_rest());
        }
    }
}

impl fmt::Debug for SessionOperationGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionOperationGroup")
            .field("database", &self.db.kind())
            .field("options", &self.options)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
