//! The drivers behind one [`Database`](crate::Database): each is a feature (`sqlite`, `postgres`,
//! `mysql`), and the pool, connection options, set-up and checked-out connection are one enum each
//! with a variant per enabled driver. [`each_driver!`] runs the same code on whichever variant
//! is there, where only the types differ.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

#[cfg(feature = "mysql")]
use sqlx::MySql;
#[cfg(feature = "postgres")]
use sqlx::Postgres;
#[cfg(feature = "sqlite")]
use sqlx::Sqlite;
use sqlx::pool::PoolConnection;
use sqlx::{ConnectOptions, Connection, Executor};

use crate::error::DbError;
use crate::options::{DatabaseOptions, server_millis};

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!("uno-db-sqlx needs a driver: enable its `sqlite`, `postgres` or `mysql` feature");

#[cfg(not(any(
    feature = "runtime-tokio",
    feature = "runtime-smol",
    feature = "runtime-async-std"
)))]
compile_error!(
    "uno-db-sqlx needs a runtime: enable its `runtime-tokio`, `runtime-smol` or \
     `runtime-async-std` feature"
);

/// `each_driver!(value, Enum, binding => body)`: `match value` over every enabled driver's
/// variant of `Enum`, running `body` with the variant's content bound.
macro_rules! each_driver {
    ($value:expr, $enum:ident, $v:ident => $body:expr) => {
        match $value {
            #[cfg(feature = "sqlite")]
            $enum::Sqlite($v) => $body,
            #[cfg(feature = "postgres")]
            $enum::Postgres($v) => $body,
            #[cfg(feature = "mysql")]
            $enum::MySql($v) => $body,
        }
    };
}
pub(crate) use each_driver;

/// A sqlx pool of one driver.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
}

/// A connection checked out of a [`Pool`].
#[derive(Debug)]
pub(crate) enum RawConn {
    #[cfg(feature = "sqlite")]
    Sqlite(PoolConnection<Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(PoolConnection<Postgres>),
    #[cfg(feature = "mysql")]
    MySql(PoolConnection<MySql>),
}

impl Pool {
    pub(crate) async fn acquire(&self) -> Result<RawConn, sqlx::Error> {
        Ok(match self {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => RawConn::Sqlite(p.acquire().await?),
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => RawConn::Postgres(p.acquire().await?),
            #[cfg(feature = "mysql")]
            Pool::MySql(p) => RawConn::MySql(p.acquire().await?),
        })
    }
}

impl RawConn {
    pub(crate) fn kind(&self) -> crate::DatabaseKind {
        match self {
            #[cfg(feature = "sqlite")]
            RawConn::Sqlite(_) => crate::DatabaseKind::Sqlite,
            #[cfg(feature = "postgres")]
            RawConn::Postgres(_) => crate::DatabaseKind::Postgres,
            #[cfg(feature = "mysql")]
            RawConn::MySql(_) => crate::DatabaseKind::MySql,
        }
    }

    /// Takes the connection out of the pool and closes its socket without a goodbye (for one whose
    /// protocol state is unknown).
    pub(crate) async fn close_hard(self) {
        each_driver!(self, RawConn, c => {
            let _ = c.detach().close_hard().await;
        })
    }

    /// As [`close_hard`](Self::close_hard), where nothing can be awaited: the connection (and so
    /// its socket) is dropped outside the pool.
    pub(crate) fn drop_hard(self) {
        each_driver!(self, RawConn, c => drop(c.detach()))
    }

    /// Returns the connection to the pool now (sqlx's drop would do it in a spawned task, later).
    /// Dropped half-way, the connection is closed.
    pub(crate) async fn return_to_pool(mut self) {
        each_driver!(&mut self, RawConn, c => c.return_to_pool().await)
    }
}

/// How to open a connection outside the pool, for [`Database::probe`](crate::Database).
#[derive(Debug, Clone)]
pub(crate) enum Connector {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::sqlite::SqliteConnectOptions),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::postgres::PgConnectOptions),
    #[cfg(feature = "mysql")]
    MySql(sqlx::mysql::MySqlConnectOptions),
}

impl Connector {
    /// Opens one connection outside the pool, sets it up as the pool would, and closes it.
    pub(crate) async fn probe(&self, setup: &Setup) -> Result<(), DbError> {
        let connecting = |e| DbError::from_sqlx("connecting to the database", e);
        let setting_up = |e| DbError::from_sqlx("setting up a new connection", e);
        each_driver!(self, Connector, o => {
            let mut c = o.connect().await.map_err(connecting)?;
            let result = setup.run(&mut c).await;
            let _ = c.close().await;
            result.map_err(setting_up)
        })
    }
}

/// What every new connection runs before it is used: the crate's server-side backstops, then the
/// user's `init_sql`.
#[derive(Debug, Clone)]
#[cfg_attr(
    not(any(feature = "postgres", feature = "mysql")),
    allow(dead_code) // the time limits are server settings
)]
pub(crate) struct Setup {
    statement_ms: u128,
    idle_ms: u128,
    init: Arc<[String]>,
}

type SetUpFuture<'c> = Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + 'c>>;

/// A connection type [`Setup`] knows how to prepare.
pub(crate) trait SetUp: Send {
    fn set_up<'c>(&'c mut self, setup: &'c Setup) -> SetUpFuture<'c>;
}

impl Setup {
    pub(crate) fn new(options: &DatabaseOptions) -> Setup {
        let statement = options.statement_timeout + options.server_timeout_margin;
        Setup {
            statement_ms: server_millis(statement),
            idle_ms: server_millis(options.idle_in_transaction_timeout),
            init: options.init_sql.as_slice().into(),
        }
    }

    pub(crate) async fn run<C: SetUp>(&self, conn: &mut C) -> Result<(), sqlx::Error> {
        conn.set_up(self).await
    }

    /// The user's `init_sql`, in order.
    fn init_sql(&self) -> impl Iterator<Item = sqlx::AssertSqlSafe<String>> + '_ {
        self.init.iter().map(|sql| sqlx::AssertSqlSafe(sql.clone()))
    }
}

#[cfg(feature = "sqlite")]
impl SetUp for sqlx::SqliteConnection {
    fn set_up<'c>(&'c mut self, setup: &'c Setup) -> SetUpFuture<'c> {
        Box::pin(async move {
            for sql in setup.init_sql() {
                self.execute(sql).await?;
            }
            Ok(())
        })
    }
}

#[cfg(feature = "postgres")]
impl SetUp for sqlx::PgConnection {
    fn set_up<'c>(&'c mut self, setup: &'c Setup) -> SetUpFuture<'c> {
        Box::pin(async move {
            let mut sql = format!(
                "SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {};",
                setup.statement_ms, setup.idle_ms
            );
            if self.server_version_num().is_some_and(|v| v >= 140_000) {
                // The server notices a client gone mid-query (PostgreSQL 14 and later).
                sql.push_str(" SET client_connection_check_interval = 1000;");
            }
            self.execute(sqlx::AssertSqlSafe(sql)).await?;
            for sql in setup.init_sql() {
                self.execute(sql).await?;
            }
            Ok(())
        })
    }
}

#[cfg(feature = "mysql")]
impl SetUp for sqlx::MySqlConnection {
    fn set_up<'c>(&'c mut self, setup: &'c Setup) -> SetUpFuture<'c> {
        Box::pin(async move {
            let version: String = sqlx::query_scalar("SELECT VERSION()")
                .fetch_one(&mut *self)
                .await?;
            let secs = setup.statement_ms.div_ceil(1000).max(1);
            // The server-side backstop: MariaDB stops any statement, MySQL read-only ones.
            let limit = if version.contains("MariaDB") {
                format!(
                    "max_statement_time = {}",
                    setup.statement_ms as f64 / 1000.0
                )
            } else {
                format!("max_execution_time = {}", setup.statement_ms)
            };
            let sql = format!("SET SESSION innodb_lock_wait_timeout = {secs}, SESSION {limit}");
            self.execute(sqlx::AssertSqlSafe(sql)).await?;
            for sql in setup.init_sql() {
                self.execute(sql).await?;
            }
            Ok(())
        })
    }
}

/// sqlx picks its runtime per call, and panics deep inside when none fits (with only
/// `runtime-tokio`, outside a tokio runtime): check before using the pool.
pub(crate) fn check_runtime() -> Result<(), DbError> {
    #[cfg(any(feature = "runtime-smol", feature = "runtime-async-std"))]
    {
        Ok(())
    }
    #[cfg(not(any(feature = "runtime-smol", feature = "runtime-async-std")))]
    {
        #[cfg(feature = "runtime-tokio")]
        if tokio::runtime::Handle::try_current().is_ok() {
            return Ok(());
        }
        // Run it on tokio, or enable `runtime-smol` (also for async-std): see the crate docs.
        Err(DbError::config(
            "built with `runtime-tokio` only and used outside a tokio runtime",
        ))
    }
}
