//! [`DbError`]: the one, opaque error type of this crate, queried with `is_*()` methods.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::observe::DEFAULT_NAME;

/// What went wrong, in the crate's own terms. Private: users ask [`DbError`]'s `is_*` methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Invalid options or URL.
    Config,
    /// No pooled connection became free in time.
    AcquireTimeout,
    /// A statement ran past its time limit.
    Timeout,
    /// The session's (or its group's) cancellation token fired.
    Cancelled,
    /// A `COMMIT` was sent but its reply never arrived: it may or may not have committed.
    OutcomeUnknown,
    /// The database answered with an error (constraint, syntax, serialization failure, busy…).
    Database,
    /// The connection broke or the pool is closed.
    Connection,
    /// The session was closed (by its group, or after the database closed).
    SessionClosed,
    /// A value could not be converted (column type, missing row).
    Decode,
    /// An operation failed with the caller's own error.
    Operation,
    /// A statement that cannot be run as given (its bound arguments do not match its
    /// placeholders).
    InvalidQuery,
}

/// The error of every fallible call in `uno-db-sqlx`.
///
/// Opaque on purpose (as hyper's `Error`): ask it what happened with the `is_*` methods, read the
/// index of the failed operation with [`operation_index`](Self::operation_index), the database's
/// code with [`code`](Self::code), and reach the sqlx error underneath with
/// [`sqlx_error`](Self::sqlx_error).
///
/// It follows std's rule for error chains: its `Display` is a short lowercase phrase saying what
/// failed (`statement `SELECT 1` timed out after 300ms`), and the cause — the database's own error
/// and message, or the I/O error — is its [`source`](StdError::source), never repeated in the
/// text. Print the chain, as error reporters (`anyhow`, `eyre`) do, to see both. What to do about
/// an error is said in the docs of the `is_*` method that recognises it.
///
/// A [`Database`](crate::Database) given a [name](crate::DatabaseOptions::name) puts it in front
/// of its errors (`database "billing": statement `SELECT 1` timed out after 300ms`); read it with
/// [`name`](Self::name).
///
/// # Examples
///
/// ```
/// use uno_db_sqlx::DbError;
///
/// let err = DbError::operation_failed("insufficient funds");
/// assert!(!err.is_timeout() && !err.is_outcome_unknown());
/// assert_eq!(err.to_string(), "insufficient funds");
/// ```
pub struct DbError {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    message: Cow<'static, str>,
    operation: Option<usize>,
    attempts: u32,
    /// The name of the database the error came from (set where the error leaves the crate).
    name: Option<Arc<str>>,
    source: Option<Source>,
}

enum Source {
    Sqlx(sqlx::Error),
    Other(Box<dyn StdError + Send + Sync + 'static>),
}

impl DbError {
    pub(crate) fn new(kind: Kind, message: impl Into<Cow<'static, str>>) -> Self {
        DbError {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                operation: None,
                attempts: 1,
                name: None,
                source: None,
            }),
        }
    }

    pub(crate) fn with_sqlx(mut self, source: sqlx::Error) -> Self {
        self.inner.source = Some(Source::Sqlx(source));
        self
    }

    pub(crate) fn kind(&self) -> Kind {
        self.inner.kind
    }

    /// An error for an operation to return when it fails for a reason of its own (a business rule,
    /// a value out of range): the transaction is rolled back and the error comes back with the
    /// operation's index.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_db_sqlx::DbError;
    ///
    /// let err = DbError::operation_failed(format!("account {} is frozen", 7));
    /// assert_eq!(err.to_string(), "account 7 is frozen");
    /// assert!(err.operation_index().is_none()); // set when it leaves run_in_transaction
    /// ```
    pub fn operation_failed(message: impl Into<Cow<'static, str>>) -> Self {
        DbError::new(Kind::Operation, message)
    }

    /// As [`operation_failed`](Self::operation_failed), passing the caller's own error through:
    /// transparent, as std's rule has it — the `Display` is the error's own (after the
    /// operation's index, once it has one), and [`source`](StdError::source) is the error's own
    /// source. Reach the error itself with [`operation_error`](Self::operation_error).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::num::ParseIntError;
    /// use uno_db_sqlx::DbError;
    ///
    /// let parse = "x".parse::<i64>().unwrap_err();
    /// let err = DbError::from_operation(parse.clone());
    /// assert_eq!(err.to_string(), parse.to_string());
    /// let inner = err.operation_error().and_then(|e| e.downcast_ref::<ParseIntError>());
    /// assert_eq!(inner, Some(&parse));
    /// ```
    pub fn from_operation(error: impl StdError + Send + Sync + 'static) -> Self {
        let mut err = DbError::new(Kind::Operation, "");
        err.inner.source = Some(Source::Other(Box::new(error)));
        err
    }

    /// The caller's own error, passed through by [`from_operation`](Self::from_operation).
    pub fn operation_error(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        match &self.inner.source {
            Some(Source::Other(e)) => Some(&**e),
            _ => None,
        }
    }

    pub(crate) fn config(message: impl Into<Cow<'static, str>>) -> Self {
        DbError::new(Kind::Config, message)
    }

    pub(crate) fn timeout(what: &str, after: Duration) -> Self {
        DbError::new(Kind::Timeout, format!("{what} timed out after {after:?}"))
    }

    pub(crate) fn cancelled(what: &str) -> Self {
        DbError::new(Kind::Cancelled, format!("{what} was cancelled"))
    }

    pub(crate) fn session_closed() -> Self {
        DbError::new(Kind::SessionClosed, "session is closed")
    }

    /// Wraps a sqlx error from `what` (a statement, acquiring a connection...), classifying it.
    pub(crate) fn from_sqlx(what: &str, error: sqlx::Error) -> Self {
        let kind = match &error {
            sqlx::Error::Database(e) if is_connection_lost(&**e) => Kind::Connection,
            sqlx::Error::Database(_) => Kind::Database,
            sqlx::Error::RowNotFound
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::Encode(_) => Kind::Decode,
            sqlx::Error::Configuration(_) => Kind::Config,
            _ => Kind::Connection,
        };
        DbError::new(kind, format!("{what} failed")).with_sqlx(error)
    }

    /// SQLite's `SQLITE_BUSY` (any extended form): another connection holds the lock.
    pub(crate) fn is_sqlite_busy(&self) -> bool {
        let db = self.sqlx_error().and_then(|e| e.as_database_error());
        db.is_some_and(|db| matches!(driver_code(db), DriverCode::Sqlite(code) if code & 0xff == 5))
    }

    /// Marks the error as coming from the operation at `index` (kept if already set).
    pub(crate) fn at_operation(mut self, index: usize) -> Self {
        self.inner.operation.get_or_insert(index);
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.inner.attempts = attempts;
        self
    }

    /// Sets the name of the database the error came from, unless it has one.
    pub(crate) fn in_database(mut self, name: &Arc<str>) -> Self {
        self.inner.name.get_or_insert_with(|| name.clone());
        self
    }

    /// Turns a failure of `COMMIT` whose reply never arrived into "outcome unknown": the message
    /// says why (`` `COMMIT` timed out after 1s; its outcome is unknown ``), the source stays.
    pub(crate) fn into_outcome_unknown(mut self) -> Self {
        self.inner.kind = Kind::OutcomeUnknown;
        self.inner.message = format!("{}; its outcome is unknown", self.inner.message).into();
        self
    }

    /// A statement or the acquisition of a connection ran past its time limit.
    ///
    /// The connection's state was unknown, so it was cleaned in the background or closed, not
    /// reused as it was. The server's own limit (PostgreSQL `statement_timeout`, MariaDB
    /// `max_statement_time`) stops the statement a margin later, except PostgreSQL's `COMMIT`
    /// (a `COMMIT` that times out is [`is_outcome_unknown`](Self::is_outcome_unknown)). Raise
    /// [`statement_timeout`](crate::DatabaseOptions::statement_timeout) or make the statement
    /// faster.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind(), Kind::Timeout | Kind::AcquireTimeout)
    }

    /// No pooled connection became free within the acquire timeout (the pool is exhausted).
    /// Release sessions sooner, or raise
    /// [`max_connections`](crate::DatabaseOptions::max_connections) or
    /// [`acquire_timeout`](crate::DatabaseOptions::acquire_timeout).
    pub fn is_acquire_timeout(&self) -> bool {
        self.kind() == Kind::AcquireTimeout
    }

    /// The work was cancelled through the session's or its group's cancellation (not a timeout).
    /// Nothing more runs on the session; an open transaction was rolled back.
    pub fn is_cancelled(&self) -> bool {
        self.kind() == Kind::Cancelled
    }

    /// A `COMMIT` was sent and its reply never arrived (timeout, cancellation, broken connection):
    /// the transaction may or may not have committed. Never reported as success or failure, and
    /// never retried: check the data before running it again, or make the transaction
    /// idempotent.
    pub fn is_outcome_unknown(&self) -> bool {
        self.kind() == Kind::OutcomeUnknown
    }

    /// The database refused the transaction because of concurrent work: a serialization failure
    /// (PostgreSQL `40001`), a deadlock (`40P01`), or a busy/locked SQLite database. Running the
    /// whole transaction again may succeed: give it a
    /// [`TransactionOptions::retry`](crate::TransactionOptions::retry).
    pub fn is_serialization_failure(&self) -> bool {
        self.kind() == Kind::Database && self.sqlx_error().is_some_and(is_retryable_sqlx)
    }

    /// The database answered with an error (a constraint, a syntax error, a serialization failure…).
    pub fn is_database_error(&self) -> bool {
        self.kind() == Kind::Database
    }

    /// The connection broke, or the pool was closed (or the server cannot be reached). A broken
    /// connection is closed; the session's next statement gets a new one. A statement refused
    /// because an earlier one left the connection in doubt is one too: end the transaction
    /// (return the error) and start again.
    pub fn is_connection_error(&self) -> bool {
        self.kind() == Kind::Connection
    }

    /// Invalid options or URL (zero pool size, zero timeout, unknown URL scheme…).
    pub fn is_config(&self) -> bool {
        self.kind() == Kind::Config
    }

    /// The statement was not sent because it cannot run as given: its bound arguments do not
    /// match its `$N` placeholders.
    pub fn is_invalid_query(&self) -> bool {
        self.kind() == Kind::InvalidQuery
    }

    /// The session was already closed (its group ended, or it was closed): create a new session.
    pub fn is_session_closed(&self) -> bool {
        self.kind() == Kind::SessionClosed
    }

    /// A result value could not be converted (unsupported column type, no row where one was
    /// expected). Cast the column in SQL; use `fetch_optional` where no row is fine.
    pub fn is_decode(&self) -> bool {
        self.kind() == Kind::Decode
    }

    /// The index (in the list given to `run_in_transaction`) of the operation that failed, if the
    /// error came from one.
    pub fn operation_index(&self) -> Option<usize> {
        self.inner.operation
    }

    /// The name of the [`Database`](crate::Database) the error came from
    /// ([`DatabaseOptions::name`](crate::DatabaseOptions::name), `"database"` by default); `None`
    /// for an error made by [`operation_failed`](Self::operation_failed) that has not left a
    /// transaction yet.
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// How many times the transaction was attempted (1 unless it was retried).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// The sqlx error underneath, if any.
    pub fn sqlx_error(&self) -> Option<&sqlx::Error> {
        match &self.inner.source {
            Some(Source::Sqlx(e)) => Some(e),
            _ => None,
        }
    }

    /// The database's own code for the error, if the database answered with one: PostgreSQL's
    /// SQLSTATE (`40001`), SQLite's extended result code (`1555` for a primary key violation),
    /// MySQL's error number (`1213`, more precise than its SQLSTATE, often `HY000`). The
    /// database's message is the error's [`source`](StdError::source).
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::run(|rt| async move {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::error::Error;
    /// use uno_db_sqlx::{Database, DatabaseOptions, enhanced_async_session, query};
    ///
    /// let db = Database::open_sqlite(&rt, dir.path().join("c.db"), DatabaseOptions::new()).await?;
    /// let session = enhanced_async_session(&db).await?;
    /// session.execute(&query("CREATE TABLE t (id INTEGER PRIMARY KEY)")).await?;
    /// session.execute(&query("INSERT INTO t VALUES (1)")).await?;
    /// let err = session.execute(&query("INSERT INTO t VALUES (1)")).await.unwrap_err();
    /// assert_eq!(err.code().as_deref(), Some("1555")); // SQLITE_CONSTRAINT_PRIMARYKEY
    /// assert!(err.source().unwrap().to_string().contains("UNIQUE constraint failed"));
    /// # drop(session);
    /// # db.close().await;
    /// # Ok::<(), uno_db_sqlx::DbError>(())
    /// # }).unwrap();
    /// ```
    pub fn code(&self) -> Option<String> {
        let db = self.sqlx_error()?.as_database_error()?;
        match driver_code(db) {
            DriverCode::MySql(number) => Some(number.to_string()),
            _ => db.code().map(|c| c.into_owned()),
        }
    }
}

/// Which driver produced a database error, and its code in that driver's terms.
enum DriverCode<'a> {
    /// PostgreSQL's SQLSTATE.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres(&'a str),
    /// SQLite's extended result code.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite(i32),
    /// MySQL's (and MariaDB's) error number.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    MySql(u16),
    Other,
}

fn driver_code(error: &dyn sqlx::error::DatabaseError) -> DriverCode<'_> {
    #[cfg(feature = "postgres")]
    if let Some(e) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return DriverCode::Postgres(e.code());
    }
    #[cfg(feature = "sqlite")]
    if error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // SQLite's extended result code, as sqlx prints it.
        let code = error.code().and_then(|c| c.parse::<i32>().ok());
        return code.map_or(DriverCode::Other, DriverCode::Sqlite);
    }
    #[cfg(feature = "mysql")]
    if let Some(e) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return DriverCode::MySql(e.number());
    }
    let _ = error;
    DriverCode::Other
}

/// PostgreSQL serialization failure / deadlock; SQLite busy / locked (primary code 5 or 6);
/// MySQL deadlock (1213) / lock wait timeout (1205). Each test applies to its own driver only:
/// PostgreSQL's `42501` is not SQLite's busy code.
pub(crate) fn is_retryable_sqlx(error: &sqlx::Error) -> bool {
    let Some(db) = error.as_database_error() else {
        return false;
    };
    match driver_code(db) {
        DriverCode::Postgres(code) => matches!(code, "40001" | "40P01"),
        DriverCode::Sqlite(code) => matches!(code & 0xff, 5 | 6),
        DriverCode::MySql(number) => matches!(number, 1213 | 1205),
        DriverCode::Other => false,
    }
}

/// A database error after which the connection is gone, whatever class the driver gives it:
/// PostgreSQL's terminated backend (`57P01`, also on a server restart), crash or shutdown
/// (`57P02`, `57P03`), session timeouts (`25P03`, `57P05`) and connection exceptions (class `08`);
/// MySQL's server shutdown (1053), killed connection (1927, MariaDB), gone server and lost
/// connection (2006, 2013), and inactivity disconnect (4031).
pub(crate) fn is_connection_lost(error: &dyn sqlx::error::DatabaseError) -> bool {
    match driver_code(error) {
        DriverCode::Postgres(code) => {
            code.starts_with("08")
                || matches!(code, "57P01" | "57P02" | "57P03" | "25P03" | "57P05")
        }
        DriverCode::MySql(number) => matches!(number, 1053 | 1927 | 2006 | 2013 | 4031),
        DriverCode::Sqlite(_) | DriverCode::Other => false,
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.inner.name.as_deref().filter(|n| *n != DEFAULT_NAME) {
            write!(f, "database {name:?}: ")?;
        }
        fmt::Display::fmt(&self.without_name(), f)
    }
}

/// A [`DbError`]'s text without the database's name, for `tracing` events that carry the name
/// in their own `name` field.
pub(crate) struct WithoutName<'a>(&'a DbError);

impl DbError {
    pub(crate) fn without_name(&self) -> WithoutName<'_> {
        WithoutName(self)
    }
}

impl fmt::Display for WithoutName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let this = self.0;
        if let Some(index) = this.inner.operation {
            write!(f, "operation #{index}: ")?;
        }
        match &this.inner.source {
            // The caller's own error, passed through: its text is this error's.
            Some(Source::Other(e)) if this.inner.message.is_empty() => write!(f, "{e}")?,
            _ => f.write_str(&this.inner.message)?,
        }
        if this.inner.attempts > 1 {
            write!(f, " (after {} attempts)", this.inner.attempts)?;
        }
        // The cause (the database's message, the I/O error) is the source, not repeated here.
        Ok(())
    }
}

impl fmt::Debug for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("DbError");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(name) = &self.inner.name {
            d.field("name", name);
        }
        if let Some(index) = self.inner.operation {
            d.field("operation", &index);
        }
        if self.inner.attempts > 1 {
            d.field("attempts", &self.inner.attempts);
        }
        match &self.inner.source {
            Some(Source::Sqlx(e)) => d.field("source", e),
            Some(Source::Other(e)) => d.field("source", e),
            None => &mut d,
        };
        d.finish()
    }
}

impl StdError for DbError {
    /// The database's own error when it answered with one (its message, and more through
    /// `sqlx::error::DatabaseError`); the I/O or TLS error under a broken connection; otherwise
    /// the sqlx error. For [`from_operation`](DbError::from_operation), the caller's error's own
    /// source (the error itself is this one's text).
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.inner.source {
            // sqlx's wrapping variants (`Database`, `Io`, `Tls`, `Configuration`, `Decode`, ...)
            // print their inner error *and* return it as their source: skip the wrapper, so the
            // chain says each thing once.
            Some(Source::Sqlx(sqlx::Error::Database(e))) => Some(e.as_error()),
            Some(Source::Sqlx(e)) => Some(e.source().unwrap_or(e)),
            Some(Source::Other(e)) if self.inner.message.is_empty() => e.source(),
            Some(Source::Other(e)) => Some(&**e),
            None => None,
        }
    }
}

impl From<sqlx::Error> for DbError {
    /// For `?` on a raw sqlx call inside an operation.
    fn from(error: sqlx::Error) -> Self {
        DbError::from_sqlx("a statement", error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_short_lowercase_phrases() {
        let timeout = DbError::timeout("statement `SELECT 1`", Duration::from_secs(1));
        assert_eq!(
            timeout.to_string(),
            "statement `SELECT 1` timed out after 1s"
        );
        assert!(timeout.is_timeout());
        let unknown = DbError::timeout("`COMMIT`", Duration::from_secs(1)).into_outcome_unknown();
        assert_eq!(
            unknown.to_string(),
            "`COMMIT` timed out after 1s; its outcome is unknown"
        );
        assert!(unknown.is_outcome_unknown() && !unknown.is_timeout());
        assert_eq!(DbError::session_closed().to_string(), "session is closed");
    }

    #[test]
    fn a_named_database_is_shown_and_the_default_name_is_not() {
        let named = DbError::session_closed().in_database(&Arc::from("billing"));
        assert_eq!(named.to_string(), "database \"billing\": session is closed");
        assert_eq!(named.name(), Some("billing"));
        let default = DbError::session_closed().in_database(&Arc::from(DEFAULT_NAME));
        assert_eq!(default.to_string(), "session is closed");
        assert_eq!(default.name(), Some("database"));
        // The first name sticks: an error keeps the database it came from.
        let kept = named.in_database(&Arc::from("other"));
        assert_eq!(kept.name(), Some("billing"));
    }

    #[test]
    fn an_operations_own_error_is_passed_through() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("reading the rates")
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let io = std::io::Error::other("disk gone");
        let err = DbError::from_operation(Outer(io)).at_operation(2);
        assert_eq!(err.to_string(), "operation #2: reading the rates");
        assert_eq!(err.source().unwrap().to_string(), "disk gone");
        assert!(err.operation_error().unwrap().is::<Outer>());
    }
}
