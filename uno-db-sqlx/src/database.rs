//! [`Database`]: a handle over a sqlx pool (SQLite or PostgreSQL), and its [`DatabaseOptions`].

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, Postgres, Sqlite};
use uno_core::Runtime;

use crate::error::{DbError, Kind};

/// Which database a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DatabaseKind {
    /// SQLite (bundled), on a file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// How a [`Database`] pools connections and limits time. Build with [`DatabaseOptions::new`];
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
///     .application_name("billing");
/// assert_eq!(options.get_max_connections(), 4);
/// ```
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    max_connections: u32,
    acquire_timeout: Duration,
    statement_timeout: Duration,
    server_timeout_margin: Duration,
    idle_in_transaction_timeout: Duration,
    busy_timeout: Duration,
    application_name: Option<String>,
    init_sql: Vec<String>,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions::new()
    }
}

impl DatabaseOptions {
    /// The defaults: 10 connections, 30 s to acquire one, 30 s per statement (the server stops a
    /// statement 1 s after that), 60 s idle in a transaction (PostgreSQL), 5 s SQLite busy timeout.
    pub fn new() -> Self {
        DatabaseOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(30),
            server_timeout_margin: Duration::from_secs(1),
            idle_in_transaction_timeout: Duration::from_secs(60),
            busy_timeout: Duration::from_secs(5),
            application_name: None,
            init_sql: Vec::new(),
        }
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
    /// with [`DbError::is_timeout`] and its connection is closed.
    ///
    /// On PostgreSQL, each connection also gets a server-side `statement_timeout` of this plus
    /// [`server_timeout_margin`](Self::server_timeout_margin), so the server stops the statement
    /// even though the client has gone. On SQLite the statement is interrupted
    /// (`sqlite3_progress_handler`) when the client gives up on it.
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// How long after the client's statement timeout PostgreSQL's own `statement_timeout` fires
    /// (default 1 s): the server-side backstop.
    pub fn server_timeout_margin(mut self, margin: Duration) -> Self {
        self.server_timeout_margin = margin;
        self
    }

    /// PostgreSQL's `idle_in_transaction_session_timeout` for every connection: the server ends a
    /// session left idle inside a transaction this long (a backstop; this crate never leaves one).
    pub fn idle_in_transaction_timeout(mut self, timeout: Duration) -> Self {
        self.idle_in_transaction_timeout = timeout;
        self
    }

    /// SQLite's busy timeout: how long a statement waits for another connection's lock.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// PostgreSQL's `application_name` (shown in `pg_stat_activity`).
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

    /// The configured maximum pool size.
    pub fn get_max_connections(&self) -> u32 {
        self.max_connections
    }

    /// The configured acquire timeout.
    pub fn get_acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }

    /// The configured statement timeout.
    pub fn get_statement_timeout(&self) -> Duration {
        self.statement_timeout
    }

    fn validate(&self) -> Result<(), DbError> {
        let zero = |what: &str| {
            DbError::config(format!(
                "{what} must be greater than zero: pass a positive value"
            ))
        };
        if self.max_connections == 0 {
            return Err(zero("max_connections"));
        }
        if self.max_connections > MAX_CONNECTIONS {
            return Err(DbError::config(format!(
                "max_connections of {} is more than the {MAX_CONNECTIONS} this crate allows (the \
                 pool reserves memory per connection, and no server takes that many): pass a \
                 smaller value",
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
        ];
        for (what, d) in durations {
            if d > MAX_DURATION {
                return Err(DbError::config(format!(
                    "{what} of {d:?} is longer than the {MAX_DURATION:?} the databases take \
                     (PostgreSQL and SQLite keep milliseconds in an i32): pass a shorter one"
                )));
            }
        }
        if self.statement_timeout + self.server_timeout_margin > MAX_DURATION {
            return Err(DbError::config(format!(
                "statement_timeout plus server_timeout_margin is longer than {MAX_DURATION:?}: \
                 shorten one of them"
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

    pub(crate) fn get_busy_timeout(&self) -> Duration {
        self.busy_timeout
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
fn pg_millis(d: Duration) -> u128 {
    d.as_millis().clamp(1, i32::MAX as u128)
}

/// Counters shared by a database's sessions (and, per group, by the group's sessions).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) committed: AtomicU64,
    pub(crate) rolled_back: AtomicU64,
    pub(crate) closed_in_doubt: AtomicU64,
    pub(crate) outcome_unknown: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) timeouts: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> DbStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DbStats {
            committed: get(&self.committed),
            rolled_back: get(&self.rolled_back),
            closed_in_doubt: get(&self.closed_in_doubt),
            outcome_unknown: get(&self.outcome_unknown),
            retries: get(&self.retries),
            timeouts: get(&self.timeouts),
        }
    }
}

/// What the sessions of a [`Database`] (or of one group) had to do to stay clean.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DbStats {
    /// Transactions committed.
    pub committed: u64,
    /// Transactions rolled back with `ROLLBACK` (after an operation's error, a failed commit, or
    /// cancellation), the connection going back to the pool.
    pub rolled_back: u64,
    /// Connections closed instead of returned, because their state was in doubt (a future dropped
    /// mid-statement, a timeout, a failed rollback). The server rolls back their transaction.
    pub closed_in_doubt: u64,
    /// Commits whose outcome is unknown.
    pub outcome_unknown: u64,
    /// Transactions run again after a serialization failure, deadlock or busy database.
    pub retries: u64,
    /// Statements that timed out.
    pub timeouts: u64,
}

impl fmt::Display for DbStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} committed, {} rolled back, {} connections closed in doubt, {} outcomes unknown, \
             {} retries, {} timeouts",
            self.committed,
            self.rolled_back,
            self.closed_in_doubt,
            self.outcome_unknown,
            self.retries,
            self.timeouts
        )
    }
}

/// The pool's connections right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStatus {
    /// Connections open (idle or checked out).
    pub size: u32,
    /// Connections idle in the pool.
    pub idle: usize,
}

impl PoolStatus {
    /// Every open connection is idle: nothing is checked out.
    pub fn is_settled(&self) -> bool {
        self.size as usize == self.idle
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// How to open a connection outside the pool (for [`Database::probe`]).
#[derive(Debug, Clone)]
pub(crate) enum Connector {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

/// What every new connection runs before it is used: the crate's server-side backstops, then the
/// user's `init_sql`.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    statement_ms: u128,
    idle_ms: u128,
    init: Arc<[String]>,
}

impl Setup {
    fn new(options: &DatabaseOptions) -> Setup {
        Setup {
            statement_ms: pg_millis(options.statement_timeout + options.server_timeout_margin),
            idle_ms: pg_millis(options.idle_in_transaction_timeout),
            init: options.init_sql.clone().into(),
        }
    }

    async fn sqlite(&self, conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
        for sql in self.init.iter() {
            conn.execute(sqlx::AssertSqlSafe(sql.clone())).await?;
        }
        Ok(())
    }

    async fn postgres(&self, conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
        let mut setup = format!(
            "SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {};",
            self.statement_ms, self.idle_ms
        );
        if conn.server_version_num().is_some_and(|v| v >= 140_000) {
            setup.push_str(" SET client_connection_check_interval = 1000;");
        }
        conn.execute(sqlx::AssertSqlSafe(setup)).await?;
        for sql in self.init.iter() {
            conn.execute(sqlx::AssertSqlSafe(sql.clone())).await?;
        }
        Ok(())
    }
}

pub(crate) struct Shared {
    pub(crate) rt: Runtime,
    pub(crate) pool: Pool,
    pub(crate) connector: Connector,
    pub(crate) setup: Setup,
    pub(crate) options: DatabaseOptions,
    pub(crate) counters: Arc<Counters>,
}

/// A database: a sqlx connection pool (SQLite or PostgreSQL) with uno's runtime and timeouts.
///
/// Cheap to clone (one `Arc`). Open one with [`Database::open_sqlite`] (the embedded default),
/// [`Database::connect`] (by URL scheme: `sqlite:` or `postgres:`/`postgresql:`), or
/// [`Database::connect_postgres`]. Then get sessions with
/// [`enhanced_async_session`](crate::enhanced_async_session) or a
/// [`SessionOperationGroup`](crate::SessionOperationGroup).
///
/// sqlx picks its own runtime per call (tokio inside a tokio runtime, otherwise smol's executor and
/// async-io); this crate enables all of them, so a `Database` works under every uno adapter.
///
/// # Examples
///
/// ```
/// # uno_tokio::run(|rt| async move {
/// # let dir = tempfile::tempdir().unwrap();
/// use uno_db_sqlx::{Database, DatabaseKind, DatabaseOptions};
///
/// let url = format!("sqlite://{}", dir.path().join("app.db").display());
/// let db = Database::connect(&rt, &url, DatabaseOptions::new().max_connections(2)).await?;
/// assert_eq!(db.kind(), DatabaseKind::Sqlite);
/// db.close().await;
/// # Ok::<(), uno_db_sqlx::DbError>(())
/// # }).unwrap().unwrap();
/// ```
#[derive(Clone)]
pub struct Database {
    pub(crate) shared: Arc<Shared>,
}

impl Database {
    /// Opens (creating it if missing) the SQLite database file at `path`, in WAL mode with the
    /// options' busy timeout.
    ///
    /// # Errors
    ///
    /// A config error for invalid options; the sqlx error if the file cannot be opened.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future drops the half-built pool and its connections.
    pub async fn open_sqlite(
        rt: &Runtime,
        path: impl AsRef<Path>,
        options: DatabaseOptions,
    ) -> Result<Database, DbError> {
        let connect = SqliteConnectOptions::new()
            .filename(path.as_ref())
            .create_if_missing(true);
        Self::sqlite_with(rt, connect, options).await
    }

    /// Connects by URL scheme: `sqlite:` (a file; WAL and busy timeout are set) or `postgres:` /
    /// `postgresql:`.
    ///
    /// # Errors
    ///
    /// A config error for invalid options or an unknown scheme; the sqlx error if the first
    /// connection fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future drops the half-built pool and its connections.
    pub async fn connect(
        rt: &Runtime,
        url: &str,
        options: DatabaseOptions,
    ) -> Result<Database, DbError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => {
                let connect = SqliteConnectOptions::from_str(url)
                    .map_err(|e| DbError::from_sqlx("parsing the SQLite URL", e))?
                    .create_if_missing(true);
                Self::sqlite_with(rt, connect, options).await
            }
            "postgres" | "postgresql" => Self::connect_postgres(rt, url, options).await,
            _ => Err(DbError::config(format!(
                "unsupported database URL scheme `{scheme}`: use `sqlite://PATH` or \
                 `postgres://USER@HOST/DB`"
            ))),
        }
    }

    /// Connects to PostgreSQL. Every connection gets `statement_timeout`,
    /// `idle_in_transaction_session_timeout` and, on PostgreSQL 14 and later,
    /// `client_connection_check_interval` (so the server notices a closed connection mid-query).
    ///
    /// # Errors
    ///
    /// A config error for invalid options or URL; the sqlx error if the first connection fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future drops the half-built pool and its connections.
    pub async fn connect_postgres(
        rt: &Runtime,
        url: &str,
        options: DatabaseOptions,
    ) -> Result<Database, DbError> {
        options.validate()?;
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(|e| DbError::from_sqlx("parsing the PostgreSQL URL", e))?;
        if let Some(name) = &options.application_name {
            connect = connect.application_name(name);
        }
        let connector = Connector::Postgres(connect.clone());
        let setup = Setup::new(&options);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            // uno's timer keeps the acquire timeout; sqlx's own is only a backstop behind it.
            .acquire_timeout(options.acquire_timeout + Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                let setup = setup.clone();
                Box::pin(async move { setup.postgres(conn).await })
            })
            .connect_lazy_with(connect);
        Self::open(rt, Pool::Postgres(pool), connector, options).await
    }

    async fn sqlite_with(
        rt: &Runtime,
        connect: SqliteConnectOptions,
        options: DatabaseOptions,
    ) -> Result<Database, DbError> {
        options.validate()?;
        let connect = connect
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(options.busy_slice());
        let connector = Connector::Sqlite(connect.clone());
        let setup = Setup::new(&options);
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout + Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                let setup = setup.clone();
                Box::pin(async move { setup.sqlite(conn).await })
            })
            .connect_lazy_with(connect);
        Self::open(rt, Pool::Sqlite(pool), connector, options).await
    }

    /// Wraps a lazy pool after one direct connection has been opened and set up, within the
    /// acquire timeout: a refused connection, a failed login or a bad `init_sql` is reported as
    /// itself at once (sqlx's pool would retry them until its timeout and say only that).
    async fn open(
        rt: &Runtime,
        pool: Pool,
        connector: Connector,
        options: DatabaseOptions,
    ) -> Result<Database, DbError> {
        let db = Database {
            shared: Arc::new(Shared {
                rt: rt.clone(),
                pool,
                connector,
                setup: Setup::new(&options),
                options,
                counters: Arc::new(Counters::default()),
            }),
        };
        let limit = db.shared.options.acquire_timeout;
        match rt.timeout(limit, "", db.probe()).await {
            Ok(Ok(())) => Ok(db),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(DbError::new(
                Kind::Connection,
                format!(
                    "could not open a connection to the database within the acquire timeout of \
                     {limit:?}: check that the server is up and reachable, or raise \
                     acquire_timeout"
                ),
            )),
        }
    }

    /// Opens one connection outside the pool, sets it up as the pool would, and closes it: the
    /// real reason why the pool cannot open connections.
    pub(crate) async fn probe(&self) -> Result<(), DbError> {
        let connecting = "connecting to the database";
        let setup = &self.shared.setup;
        match &self.shared.connector {
            Connector::Sqlite(o) => {
                let mut c = o
                    .connect()
                    .await
                    .map_err(|e| DbError::from_sqlx(connecting, e))?;
                let result = setup.sqlite(&mut c).await;
                let _ = c.close().await;
                result.map_err(|e| DbError::from_sqlx("setting up a new connection", e))
            }
            Connector::Postgres(o) => {
                let mut c = o
                    .connect()
                    .await
                    .map_err(|e| DbError::from_sqlx(connecting, e))?;
                let result = setup.postgres(&mut c).await;
                let _ = c.close().await;
                result.map_err(|e| DbError::from_sqlx("setting up a new connection", e))
            }
        }
    }

    /// SQLite or PostgreSQL.
    pub fn kind(&self) -> DatabaseKind {
        match self.shared.pool {
            Pool::Sqlite(_) => DatabaseKind::Sqlite,
            Pool::Postgres(_) => DatabaseKind::Postgres,
        }
    }

    /// The uno runtime whose timer keeps this database's timeouts.
    pub fn runtime(&self) -> &Runtime {
        &self.shared.rt
    }

    /// The options it was opened with.
    pub fn options(&self) -> &DatabaseOptions {
        &self.shared.options
    }

    /// The sqlx SQLite pool, if this is SQLite. Connections taken from it directly get none of
    /// this crate's guarantees.
    pub fn sqlite_pool(&self) -> Option<&sqlx::Pool<Sqlite>> {
        match &self.shared.pool {
            Pool::Sqlite(p) => Some(p),
            Pool::Postgres(_) => None,
        }
    }

    /// The sqlx PostgreSQL pool, if this is PostgreSQL. Connections taken from it directly get none
    /// of this crate's guarantees.
    pub fn postgres_pool(&self) -> Option<&sqlx::Pool<Postgres>> {
        match &self.shared.pool {
            Pool::Postgres(p) => Some(p),
            Pool::Sqlite(_) => None,
        }
    }

    /// How many connections are open and idle.
    pub fn pool_status(&self) -> PoolStatus {
        match &self.shared.pool {
            Pool::Sqlite(p) => PoolStatus {
                size: p.size(),
                idle: p.num_idle(),
            },
            Pool::Postgres(p) => PoolStatus {
                size: p.size(),
                idle: p.num_idle(),
            },
        }
    }

    /// What every session of this database has committed, rolled back, closed or retried so far.
    pub fn stats(&self) -> DbStats {
        self.shared.counters.snapshot()
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        match &self.shared.pool {
            Pool::Sqlite(p) => p.is_closed(),
            Pool::Postgres(p) => p.is_closed(),
        }
    }

    /// Closes the pool: new sessions fail at once; waits until every checked-out connection has
    /// been returned (and is then closed) or closed — so drop or close live [`Session`]s first
    /// (or end their [`SessionOperationGroup`]), or this waits for them.
    ///
    /// [`Session`]: crate::Session
    /// [`SessionOperationGroup`]: crate::SessionOperationGroup
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the pool is marked closed at the first poll; dropping the future only stops
    /// waiting for the connections still out, which are closed when their sessions release them.
    pub async fn close(&self) {
        match &self.shared.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("kind", &self.kind())
            .field("pool", &self.pool_status())
            .field("options", &self.shared.options)
            .finish()
    }
}
