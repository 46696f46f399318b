//! [`DatabaseOptions`]: pool size and time limits, checked before anything is opened.

use std::sync::Arc;
use std::time::Duration;

use crate::error::DbError;
use crate::observe::DEFAULT_NAME;

/// How a [`Database`](crate::Database) pools connections and limits time. Build with [`DatabaseOptions::new`];
/// invalid values (zero sizes or durations) are reported by `connect` as a config error.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_db_sqlx::DatabaseOptions;
///
/// let options = DatabaseOptions::new()
///     .max_connections(4)
///     .statement_timeout(Duration::from_secs(5))
///     .acquire_timeout(Duration::from_secs(2))
///     .application_name("billing")
///     .name("billing");
/// # drop(options);
/// ```
#[derive(Debug, Clone)]
#[must_use = "options do nothing until they are given to `Database::connect` or `open_sqlite`"]
pub struct DatabaseOptions {
    pub(crate) name: Arc<str>,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) statement_timeout: Duration,
    pub(crate) server_timeout_margin: Duration,
    pub(crate) idle_in_transaction_timeout: Duration,
    pub(crate) busy_timeout: Duration,
    pub(crate) recycle_timeout: Duration,
    pub(crate) application_name: Option<String>,
    pub(crate) init_sql: Vec<String>,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions::new()
    }
}

impl DatabaseOptions {
    /// The defaults: 10 connections, 30 s to acquire one, 30 s per statement (the server stops a
    /// statement 1 s after that), 60 s idle in a transaction (PostgreSQL), 5 s SQLite busy timeout,
    /// 5 s to recycle a connection in doubt.
    pub fn new() -> Self {
        DatabaseOptions {
            name: Arc::from(DEFAULT_NAME),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(30),
            server_timeout_margin: Duration::from_secs(1),
            idle_in_transaction_timeout: Duration::from_secs(60),
            busy_timeout: Duration::from_secs(5),
            recycle_timeout: Duration::from_secs(5),
            application_name: None,
            init_sql: Vec::new(),
        }
    }

    /// The database's name (default `"database"`): shown in front of its errors (when it is not
    /// the default), in the `name` label of its metrics and the `name` field of its `tracing`
    /// events, so two databases of one application are told apart. Read it back with
    /// [`Database::name`](crate::Database::name).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = name.into();
        self
    }

    /// The most connections the pool opens (at least 1).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// How long a session waits for a free connection before failing with
    /// [`DbError::is_acquire_timeout`].
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The time limit of every statement, kept by uno's runtime timer. A statement past it fails
    /// with [`DbError::is_timeout`], and its connection is cleaned in the background (see
    /// [`recycle_timeout`](Self::recycle_timeout)) or closed.
    ///
    /// On PostgreSQL, each connection also gets a server-side `statement_timeout` of this plus
    /// [`server_timeout_margin`](Self::server_timeout_margin), so the server stops the statement
    /// even though the client has gone. On SQLite the statement is interrupted
    /// (`sqlite3_progress_handler`) when the client gives up on it.
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// How long after the client's statement timeout the server's own limit fires (default 1 s):
    /// PostgreSQL's `statement_timeout`, MariaDB's `max_statement_time`, MySQL's
    /// `max_execution_time` (read-only statements only), the server-side backstop.
    pub fn server_timeout_margin(mut self, margin: Duration) -> Self {
        self.server_timeout_margin = margin;
        self
    }

    /// PostgreSQL's `idle_in_transaction_session_timeout` for every connection: the server ends a
    /// session left idle inside a transaction this long (a backstop; this crate never leaves one).
    /// MySQL has no such setting.
    pub fn idle_in_transaction_timeout(mut self, timeout: Duration) -> Self {
        self.idle_in_transaction_timeout = timeout;
        self
    }

    /// SQLite's busy timeout: how long a statement waits for another connection's lock.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How long a connection whose state is in doubt (its statement was timed out, cancelled or
    /// dropped mid-way) may take to be cleaned in the background before it is closed instead
    /// (default 5 s). Cleaning waits for the abandoned statement to finish or stop (SQLite
    /// interrupts it; the servers' own statement limits end it), sends `ROLLBACK`, checks that no
    /// transaction is open, and returns the connection to the pool: opening a new connection
    /// costs far more. `Duration::ZERO` closes such connections at once, as sqlx would.
    pub fn recycle_timeout(mut self, timeout: Duration) -> Self {
        self.recycle_timeout = timeout;
        self
    }

    /// PostgreSQL's `application_name` (shown in `pg_stat_activity`; not sent to SQLite or MySQL).
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// SQL run on every new connection, after the crate's own settings (for example
    /// `SET search_path TO app` or `PRAGMA foreign_keys = ON`). May be called several times.
    pub fn init_sql(mut self, sql: impl Into<String>) -> Self {
        self.init_sql.push(sql.into());
        self
    }

    /// Checks every option; the error names the database.
    pub(crate) fn validate(&self) -> Result<(), DbError> {
        self.check().map_err(|e| e.in_database(&self.name))
    }

    fn check(&self) -> Result<(), DbError> {
        if self.name.is_empty() {
            return Err(DbError::config("name must not be empty"));
        }
        let zero = |what: &str| DbError::config(format!("{what} must be greater than zero"));
        if self.max_connections == 0 {
            return Err(zero("max_connections"));
        }
        if self.max_connections > MAX_CONNECTIONS {
            return Err(DbError::config(format!(
                "max_connections of {} is more than {MAX_CONNECTIONS}",
                self.max_connections
            )));
        }
        let durations = [
            ("acquire_timeout", self.acquire_timeout),
            ("statement_timeout", self.statement_timeout),
            ("server_timeout_margin", self.server_timeout_margin),
            (
                "idle_in_transaction_timeout",
                self.idle_in_transaction_timeout,
            ),
            ("busy_timeout", self.busy_timeout),
            ("recycle_timeout", self.recycle_timeout),
        ];
        for (what, d) in durations {
            if d > MAX_DURATION {
                return Err(DbError::config(format!(
                    "{what} of {d:?} is longer than {MAX_DURATION:?}"
                )));
            }
        }
        if self.statement_timeout + self.server_timeout_margin > MAX_DURATION {
            return Err(DbError::config(format!(
                "statement_timeout plus server_timeout_margin is longer than {MAX_DURATION:?}"
            )));
        }
        if self.acquire_timeout.is_zero() {
            return Err(zero("acquire_timeout"));
        }
        if self.statement_timeout.is_zero() {
            return Err(zero("statement_timeout"));
        }
        if self.idle_in_transaction_timeout.is_zero() {
            return Err(zero("idle_in_transaction_timeout"));
        }
        Ok(())
    }

    /// SQLite's busy timeout as the connection gets it: one short slice. A longer wait is made of
    /// several slices by the session (on uno's timer), so a statement given up on leaves the
    /// connection's worker busy for one slice at most, not for the whole busy timeout.
    pub(crate) fn busy_slice(&self) -> Duration {
        self.busy_timeout.min(BUSY_SLICE)
    }
}

/// The longest duration any option takes: PostgreSQL's and SQLite's millisecond settings are i32s
/// (and sqlx's SQLite worker panics past it).
const MAX_DURATION: Duration = Duration::from_millis(i32::MAX as u64);

/// The largest pool: sqlx reserves memory for every possible connection up front.
const MAX_CONNECTIONS: u32 = 10_000;

/// See [`DatabaseOptions::busy_slice`].
const BUSY_SLICE: Duration = Duration::from_millis(50);

/// Milliseconds for a PostgreSQL setting, saturating (0 would mean "no limit", so at least 1).
pub(crate) fn server_millis(d: Duration) -> u128 {
    d.as_millis().clamp(1, i32::MAX as u128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bound_is_a_config_error_naming_its_option() {
        let huge = Duration::from_millis(1 << 31);
        let cases = [
            ("max_connections", DatabaseOptions::new().max_connections(0)),
            (
                "max_connections",
                DatabaseOptions::new().max_connections(u32::MAX),
            ),
            (
                "acquire_timeout",
                DatabaseOptions::new().acquire_timeout(Duration::ZERO),
            ),
            (
                "acquire_timeout",
                DatabaseOptions::new().acquire_timeout(Duration::MAX),
            ),
            (
                "statement_timeout",
                DatabaseOptions::new().statement_timeout(huge),
            ),
            (
                "server_timeout_margin",
                DatabaseOptions::new().server_timeout_margin(huge),
            ),
            ("busy_timeout", DatabaseOptions::new().busy_timeout(huge)),
            (
                "server_timeout_margin",
                DatabaseOptions::new()
                    .statement_timeout(MAX_DURATION)
                    .server_timeout_margin(Duration::from_secs(1)),
            ),
        ];
        for (what, options) in cases {
            let err = options.validate().unwrap_err();
            assert!(err.is_config(), "{what}: {err:?}");
            assert!(err.to_string().contains(what), "{what}: {err}");
        }
        assert!(DatabaseOptions::new().validate().is_ok());
        assert!(
            DatabaseOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn server_millis_saturate_and_never_mean_no_limit() {
        assert_eq!(server_millis(Duration::ZERO), 1);
        assert_eq!(server_millis(Duration::from_micros(10)), 1);
        assert_eq!(server_millis(Duration::from_secs(2)), 2000);
        assert_eq!(server_millis(Duration::MAX), i32::MAX as u128);
    }
}
