//! [`Tx`]: an open transaction, handed to a transaction's closure (or to each [`Operation`]).
//!
//! [`Operation`]: crate::Operation

use std::fmt;

use crate::connection::{Conn, SavepointGuard, no_row};
use crate::database::DatabaseKind;
use crate::error::DbError;
use crate::executor::DriverConnection;
use crate::query::{Query, Row, Value};

/// An open transaction, handed to the closure of [`Session::transaction`] (and to each
/// [`Operation`]). Its statements run under the session's statement timeout.
///
/// Run sqlx's own API on it with [`with_connection`](Self::with_connection), nest work in
/// [`savepoint`](Self::savepoint)s, or use the portable [`Query`] methods.
///
/// After one of its statements times out or is cancelled, the connection's state is unknown: every
/// later statement fails at once, and the transaction ends with the connection rolled back in the
/// background or closed. Return the error from the closure.
///
/// [`Session::transaction`]: crate::Session::transaction
/// [`Operation`]: crate::Operation
pub struct Tx {
    pub(crate) conn: Conn,
}

impl Tx {
    /// Which database this transaction runs on.
    pub fn kind(&self) -> DatabaseKind {
        self.conn.ctx().db.kind()
    }

    /// Runs a statement and returns the rows it affected.
    ///
    /// # Errors
    ///
    /// The database's error; [`DbError::is_timeout`] past the statement timeout;
    /// [`DbError::is_cancelled`] when the session or group was cancelled;
    /// [`DbError::is_invalid_query`] when the bound arguments do not match the placeholders.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future (or the transaction's) while the statement is in flight leaves the
    /// connection in doubt: the transaction cannot go on, nothing of it is committed.
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

    /// Lends the transaction's sqlx connection to `f`, for sqlx's own API: `Executor`,
    /// `query_as` with `FromRow` types, `query!`/`query_as!`. Name the driver's connection type in
    /// the closure's argument (`&mut sqlx::SqliteConnection`, `&mut sqlx::PgConnection`,
    /// `&mut sqlx::MySqlConnection`).
    ///
    /// The call counts as one statement: the connection is marked in doubt until `f` returns,
    /// and `f` must finish within the statement timeout. Leave `BEGIN`, `COMMIT`, `ROLLBACK` and
    /// `SAVEPOINT` to the crate ([`Session::transaction`](crate::Session::transaction),
    /// [`savepoint`](Self::savepoint)): it tracks the transaction's state itself.
    ///
    /// # Errors
    ///
    /// `f`'s error (a `sqlx::Error` is classified as by the crate's own statements);
    /// [`DbError::is_timeout`] past the statement timeout; [`DbError::is_cancelled`] when the
    /// session was cancelled; [`DbError::is_config`] if the connection type is not this
    /// database's (`f` is not run).
    ///
    /// # Cancel safety
    ///
    /// As [`execute`](Self::execute): dropped while `f` runs, the transaction cannot go on and
    /// nothing of it is committed.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::run(|rt| async move {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use sqlx::SqliteConnection;
    /// use uno_db_sqlx::{Database, DatabaseOptions, enhanced_async_session};
    ///
    /// #[derive(sqlx::FromRow, Debug, PartialEq)]
    /// struct User {
    ///     id: i64,
    ///     name: String,
    /// }
    ///
    /// let db = Database::open_sqlite(&rt, dir.path().join("u.db"), DatabaseOptions::new()).await?;
    /// let session = enhanced_async_session(&db).await?;
    /// let users = session
    ///     .transaction(async |tx| {
    ///         tx.with_connection(async |c: &mut SqliteConnection| {
    ///             sqlx::query("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    ///                 .execute(&mut *c)
    ///                 .await?;
    ///             sqlx::query("INSERT INTO users (id, name) VALUES (?, ?)")
    ///                 .bind(1_i64)
    ///                 .bind("ada")
    ///                 .execute(&mut *c)
    ///                 .await?;
    ///             sqlx::query_as::<_, User>("SELECT id, name FROM users").fetch_all(c).await
    ///         })
    ///         .await
    ///     })
    ///     .await?;
    /// assert_eq!(users, [User { id: 1, name: "ada".into() }]);
    /// # drop(session);
    /// # db.close().await;
    /// # Ok::<(), uno_db_sqlx::DbError>(())
    /// # }).unwrap();
    /// ```
    pub async fn with_connection<C, F, R, E>(&mut self, f: F) -> Result<R, DbError>
    where
        C: DriverConnection,
        F: AsyncFnOnce(&mut C) -> Result<R, E>,
        DbError: From<E>,
    {
        self.conn.lend(f).await
    }

    /// Runs `f` inside a savepoint (a nested transaction): if `f` fails, its work alone is
    /// rolled back (`ROLLBACK TO SAVEPOINT`) and its error returned — the transaction goes on and
    /// may still commit; if it succeeds, its work stays in the transaction (`RELEASE SAVEPOINT`).
    /// Savepoints nest: call `savepoint` on the `Tx` that `f` gets.
    ///
    /// # Errors
    ///
    /// `f`'s error, after its work was rolled back; the errors of
    /// [`execute`](Self::execute) for the savepoint's own statements.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future undoes the savepoint's work like a failure: the transaction rolls back
    /// to the savepoint before its next statement (or its `COMMIT`). If a statement was in
    /// flight when it was dropped, the whole transaction cannot go on, as with
    /// [`execute`](Self::execute).
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_tokio::run(|rt| async move {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use uno_db_sqlx::{Database, DatabaseOptions, DbError, enhanced_async_session, query};
    ///
    /// let db = Database::open_sqlite(&rt, dir.path().join("sp.db"), DatabaseOptions::new()).await?;
    /// let session = enhanced_async_session(&db).await?;
    /// session.execute(&query("CREATE TABLE log (line TEXT)")).await?;
    /// session
    ///     .transaction(async |tx| {
    ///         tx.execute(&query("INSERT INTO log VALUES ('kept')")).await?;
    ///         let failed = tx
    ///             .savepoint(async |tx| {
    ///                 tx.execute(&query("INSERT INTO log VALUES ('undone')")).await?;
    ///                 Err::<(), _>(DbError::operation_failed("changed my mind"))
    ///             })
    ///             .await;
    ///         assert!(failed.is_err());
    ///         Ok(())
    ///     })
    ///     .await?;
    /// let lines = session.fetch_scalar(&query("SELECT COUNT(*) FROM log")).await?;
    /// assert_eq!(lines.as_i64(), Some(1));
    /// # drop(session);
    /// # db.close().await;
    /// # Ok::<(), DbError>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub async fn savepoint<T, F>(&mut self, f: F) -> Result<T, DbError>
    where
        F: AsyncFnOnce(&mut Tx) -> Result<T, DbError>,
    {
        let depth = self.conn.savepoint().await?;
        let guard = SavepointGuard::new(self.conn.abandoned_savepoints(), depth);
        let result = f(self).await;
        let ended = match &result {
            Ok(_) => self.conn.release_savepoint(depth).await,
            Err(_) if self.conn.is_in_doubt() => Ok(()),
            Err(_) => self.conn.rollback_to_savepoint(depth).await,
        };
        if ended.is_ok() {
            // Otherwise the guard asks the next statement to try the rollback again.
            guard.finish();
        }
        match (result, ended) {
            (Ok(value), Ok(())) => Ok(value),
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
        }
    }
}

impl fmt::Debug for Tx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tx")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}
