//! [`Database`]: a handle over a sqlx pool (SQLite, PostgreSQL or MySQL/MariaDB).

use std::fmt;
#[cfg(feature = "sqlite")]
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use uno_core::Runtime;

use crate::driver::{Connector, Pool, Setup, check_runtime, each_driver};
use crate::error::{DbError, Kind};
use crate::observe::Observer;
use crate::options::DatabaseOptions;
use crate::stats::{DbStats, PoolStatus};

/// Which database a [`Database`] talks to.
///
/// Every variant exists whatever features are enabled (so a `match` compiles everywhere); a
/// database of a disabled driver cannot be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DatabaseKind {
    /// SQLite (bundled), on a file. Feature `sqlite`.
    Sqlite,
    /// PostgreSQL. Feature `postgres`.
    Postgres,
    /// MySQL or MariaDB. Feature `mysql`.
    MySql,
}

impl DatabaseKind {
    /// `"sqlite"`, `"postgres"` or `"mysql"`, for messages.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DatabaseKind::Sqlite => "sqlite",
            DatabaseKind::Postgres => "postgres",
            DatabaseKind::MySql => "mysql",
        }
    }
}

pub(crate) struct Shared {
    pub(crate) rt: Runtime,
    pub(crate) pool: Pool,
    pub(crate) connector: Connector,
    pub(crate) setup: Setup,
    pub(crate) options: DatabaseOptions,
    /// The name, the counters and the metric handles.
    pub(crate) observer: Observer,
}

/// A database: a sqlx connection pool (SQLite, PostgreSQL or MySQL/MariaDB) with uno's runtime and
/// timeouts.
///
/// Cheap to clone (one `Arc`). Open one with [`Database::open_sqlite`] (the embedded default),
/// [`Database::connect`] (by URL scheme: `sqlite:`, `postgres:`/`postgresql:`,
/// `mysql:`/`mariadb:`), `Database::connect_postgres` or `Database::connect_mysql`. Then get
/// sessions with [`enhanced_async_session`](crate::enhanced_async_session) or a
/// [`SessionOperationGroup`](crate::SessionOperationGroup).
///
/// Opening one connects once, outside the pool, and sets that connection up as the pool will:
/// a refused connection, a failed login or a bad `init_sql` is reported at once as itself.
///
/// sqlx picks its own runtime per call (tokio inside a tokio runtime, otherwise smol's executor and
/// async-io); enable the crate's runtime features for every executor the database is used on.
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
    /// A config error for invalid options; the sqlx error if the file cannot be opened or
    /// `init_sql` fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future drops the half-built pool and its connections.
    #[cfg(feature = "sqlite")]
    pub async fn open_sqlite(
        rt: &Runtime,
        path: impl AsRef<Path>,
        options: DatabaseOptions,
    ) -> Result<Database, DbError> {
        let connect = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path.as_ref())
            .create_if_missing(true);
        Self::sqlite_with(rt, connect, options).await
    }

    /// Connects by URL scheme: `sqlite:` (a file; WAL and busy timeout are set), `postgres:` /
    /// `postgresql:`, or `mysql:` / `mariadb:`.
    ///
    /// # Errors
    ///
    /// A config error for invalid options, an unknown scheme, or a scheme whose driver feature
    /// is not enabled; the real cause if the first connection fails.
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
        #[allow(unused_variables)] // every driver enabled
        let disabled = |feature: &str| {
            DbError::config(format!(
                "database URL scheme `{scheme}` needs the `{feature}` feature"
            ))
            .in_database(&options.name)
        };
        match scheme {
            "sqlite" => {
                #[cfg(feature = "sqlite")]
                {
                    let connect = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                        .map_err(|e| {
                            DbError::from_sqlx("parsing the SQLite URL", e)
                                .in_database(&options.name)
                        })?
                        .create_if_missing(true);
                    Self::sqlite_with(rt, connect, options).await
                }
                #[cfg(not(feature = "sqlite"))]
                Err(disabled("sqlite"))
            }
            "postgres" | "postgresql" => {
                #[cfg(feature = "postgres")]
                return Self::connect_postgres(rt, url, options).await;
                #[cfg(not(feature = "postgres"))]
                Err(disabled("postgres"))
            }
            "mysql" | "mariadb" => {
                #[cfg(feature = "mysql")]
                return Self::connect_mysql(rt, url, options).await;
                #[cfg(not(feature = "mysql"))]
                Err(disabled("mysql"))
            }
            _ => Err(
                DbError::config(format!("unsupported database URL scheme `{scheme}`"))
                    .in_database(&options.name),
            ),
        }
    }

    /// Connects to PostgreSQL. Every connection gets `statement_timeout`,
    /// `idle_in_transaction_session_timeout` and, on PostgreSQL 14 and later,
    /// `client_connection_check_interval` (so the server notices a closed connection mid-query).
    ///
    /// # Errors
    ///
    /// A config error for invalid options or URL; the real cause if the first connection fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future drops the half-built pool and its connections.
    #[cfg(feature = "postgres")]
    pub async fn connect_postgres(
        rt: &Runtime,
        url: &str,
        options: DatabaseOptions,
    ) -> Result<Database, DbError> {
        options.validate()?;
        let mut connect = sqlx::postgres::PgConnectOptions::from_str(url).map_err(|e| {
            DbError::from_sqlx("parsing the PostgreSQL URL", e).in_database(&options.name)
        })?;
        if let Some(name) = options.application_name.as_deref() {
            connect = connect.application_name(name);
        }
        let setup = Setup::new(&options);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(options.max_connections)
            // uno's timer keeps the acquire timeout; sqlx's own is only a backstop behind it.
            .acquire_timeout(options.acquire_timeout + Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                let setup = setup.clone();
                Box::pin(async move { setup.run(conn).await })
            })
            .connect_lazy_with(connect.clone());
        Self::open(
            rt,
            Pool::Postgres(pool),
            Connector::Postgres(connect),
            options,
        )
        .await
    }

    /// Connects to MySQL or MariaDB (`mysql://USER:PASSWORD@HOST:PORT/DB`). Every connection gets
    /// a server-side statement limit (MariaDB `max_statement_time`; MySQL `max_execution_time`,
    /// which covers read-only statements only) and `innodb_lock_wait_timeout`, both the statement
    /// timeout plus the margin. MySQL has nothing like PostgreSQL's
    /// `idle_in_transaction_session_timeout`; this crate never leaves a transaction idle anyway.
    ///
    /// # Errors
    ///
    /// A config error for invalid options or URL; the real cause if the first connection fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future drops the half-built pool and its connections.
    #[cfg(feature = "mysql")]
    pub async fn connect_mysql(
        rt: &Runtime,
        url: &str,
        options: DatabaseOptions,
    ) -> Result<Database, DbError> {
        options.validate()?;
        let url = url.replacen("mariadb:", "mysql:", 1);
        let connect = sqlx::mysql::MySqlConnectOptions::from_str(&url).map_err(|e| {
            DbError::from_sqlx("parsing the MySQL URL", e).in_database(&options.name)
        })?;
        let setup = Setup::new(&options);
        let pool = sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout + Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                let setup = setup.clone();
                Box::pin(async move { setup.run(conn).await })
            })
            .connect_lazy_with(connect.clone());
        Self::open(rt, Pool::MySql(pool), Connector::MySql(connect), options).await
    }

    #[cfg(feature = "sqlite")]
    async fn sqlite_with(
        rt: &Runtime,
        connect: sqlx::sqlite::SqliteConnectOptions,
        options: DatabaseOptions,
    ) -> Result<Database, DbError> {
        options.validate()?;
        let connect = connect
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(options.busy_slice());
        let setup = Setup::new(&options);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout + Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                let setup = setup.clone();
                Box::pin(async move { setup.run(conn).await })
            })
            .connect_lazy_with(connect.clone());
        Self::open(rt, Pool::Sqlite(pool), Connector::Sqlite(connect), options).await
    }

    /// Wraps a lazy pool after one direct connection has been opened and set up, within the
    /// acquire timeout: a refused connection, a failed login or a bad `init_sql` is reported as
    /// itself at once (sqlx's pool would retry them until its timeout and say only that).
    ///
    /// The metric handles are registered here, before the first await: with the recorder current
    /// on the thread that first polls the opening future.
    async fn open(
        rt: &Runtime,
        pool: Pool,
        connector: Connector,
        options: DatabaseOptions,
    ) -> Result<Database, DbError> {
        let name = options.name.clone();
        check_runtime().map_err(|e| e.in_database(&name))?;
        let db = Database {
            shared: Arc::new(Shared {
                rt: rt.clone(),
                pool,
                connector,
                setup: Setup::new(&options),
                observer: Observer::new(options.name.clone()),
                options,
            }),
        };
        let limit = db.shared.options.acquire_timeout;
        match rt.timeout(limit, "", db.probe()).await {
            Ok(Ok(())) => Ok(db),
            Ok(Err(e)) => Err(e.in_database(&name)),
            Err(_) => Err(DbError::new(
                Kind::Connection,
                format!("connecting to the database timed out after {limit:?}"),
            )
            .in_database(&name)),
        }
    }

    /// Opens one connection outside the pool, sets it up as the pool would, and closes it: the
    /// real reason why the pool cannot open connections.
    pub(crate) async fn probe(&self) -> Result<(), DbError> {
        self.shared.connector.probe(&self.shared.setup).await
    }

    /// The database's name ([`DatabaseOptions::name`], `"database"` by default), as its errors,
    /// metrics and `tracing` events show it.
    pub fn name(&self) -> &str {
        self.shared.observer.name()
    }

    /// SQLite, PostgreSQL or MySQL.
    pub fn kind(&self) -> DatabaseKind {
        match self.shared.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => DatabaseKind::Sqlite,
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => DatabaseKind::Postgres,
            #[cfg(feature = "mysql")]
            Pool::MySql(_) => DatabaseKind::MySql,
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
    #[cfg(feature = "sqlite")]
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match &self.shared.pool {
            Pool::Sqlite(p) => Some(p),
            #[allow(unreachable_patterns)] // when SQLite is the only driver enabled
            _ => None,
        }
    }

    /// The sqlx PostgreSQL pool, if this is PostgreSQL. Connections taken from it directly get none
    /// of this crate's guarantees.
    #[cfg(feature = "postgres")]
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.shared.pool {
            Pool::Postgres(p) => Some(p),
            #[allow(unreachable_patterns)] // when PostgreSQL is the only driver enabled
            _ => None,
        }
    }

    /// The sqlx MySQL pool, if this is MySQL or MariaDB. Connections taken from it directly get
    /// none of this crate's guarantees.
    #[cfg(feature = "mysql")]
    pub fn mysql_pool(&self) -> Option<&sqlx::MySqlPool> {
        match &self.shared.pool {
            Pool::MySql(p) => Some(p),
            #[allow(unreachable_patterns)] // when MySQL is the only driver enabled
            _ => None,
        }
    }

    /// How many connections are open and idle.
    pub fn pool_status(&self) -> PoolStatus {
        each_driver!(&self.shared.pool, Pool, p => PoolStatus { size: p.size(), idle: p.num_idle() })
    }

    /// What every session of this database has committed, rolled back, closed or retried so far.
    pub fn stats(&self) -> DbStats {
        self.shared.observer.counters().snapshot()
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        each_driver!(&self.shared.pool, Pool, p => p.is_closed())
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
        each_driver!(&self.shared.pool, Pool, p => p.close().await)
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("name", &self.name())
            .field("kind", &self.kind())
            .field("pool", &self.pool_status())
            .field("options", &self.shared.options)
            .finish()
    }
}
