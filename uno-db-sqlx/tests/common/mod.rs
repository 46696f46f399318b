//! Shared helpers: one test body on four runtimes, database fixtures (SQLite always, PostgreSQL
//! and MySQL when `UNO_TEST_POSTGRES_URL` / `UNO_TEST_MYSQL_URL` are set) with a separate admin
//! connection, a stoppable TCP proxy, hand-polling.

#![allow(dead_code, unreachable_pub)] // each test file uses a different subset

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::{Connection, Executor, Row as _};
use uno_core::Runtime;
use uno_db_sqlx::{Database, DatabaseKind, DatabaseOptions};

/// Expands one async body `|rt| { … }` into four `#[test]`s: tokio current-thread, tokio
/// multi-thread, smol, async-std.
#[macro_export]
macro_rules! db_test {
    ($name:ident, |$rt:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($rt: uno_core::Runtime) $body

            #[test]
            fn tokio_current_thread() {
                let tokio = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let rt = uno_tokio::runtime_from(tokio.handle().clone()).unwrap();
                tokio.block_on(body(rt));
            }

            #[test]
            fn tokio_multi_thread() {
                let tokio = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                let rt = uno_tokio::runtime_from(tokio.handle().clone()).unwrap();
                tokio.block_on(body(rt));
            }

            #[test]
            fn smol() {
                smol::block_on(body(uno_smol::runtime()));
            }

            #[test]
            fn async_std() {
                async_std::task::block_on(body(uno_async_std::runtime()));
            }
        }
    };
}

/// Polls `future` up to `k` times (yielding between polls), then drops it; `Some` if it finished.
pub async fn poll_times<F: Future>(future: F, k: usize) -> Option<F::Output> {
    let mut future = pin!(future);
    for _ in 0..k {
        if let Some(out) = futures_lite::future::poll_once(future.as_mut()).await {
            return Some(out);
        }
        uno_core::task::yield_now().await;
    }
    None
}

/// Waits (on the runtime's clock) until `condition` holds, failing after `limit`.
pub async fn eventually<F, Fut>(rt: &Runtime, what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = rt.now();
    while !condition().await {
        assert!(rt.now() - start < limit, "{what}: not true after {limit:?}");
        rt.sleep(Duration::from_millis(5)).await;
    }
}

fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub enum Admin {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
    MySql(sqlx::MySqlConnection),
}

/// The URL of a server the tests may use, or `None` after printing that they are skipped.
pub fn server_url(var: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        println!("skipped: {var} is not set");
    }
    url
}

/// A database under test plus a separate admin connection to check its state from outside.
pub struct Fixture {
    pub db: Database,
    pub admin: Admin,
    pub app: String,
    /// The test's own schema (PostgreSQL) or database (MySQL), and the server's URL.
    schema: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    /// Every database the tests run on: SQLite always, PostgreSQL and MySQL when configured.
    pub async fn all(rt: &Runtime, options: DatabaseOptions) -> Vec<Fixture> {
        let mut all = vec![Fixture::sqlite(rt, options.clone()).await];
        all.extend(Fixture::postgres(rt, options.clone()).await);
        all.extend(Fixture::mysql(rt, options).await);
        all
    }

    /// The servers only (PostgreSQL and MySQL, when configured).
    pub async fn servers(rt: &Runtime, options: DatabaseOptions) -> Vec<Fixture> {
        let mut all = Vec::new();
        all.extend(Fixture::postgres(rt, options.clone()).await);
        all.extend(Fixture::mysql(rt, options).await);
        all
    }

    pub async fn sqlite(rt: &Runtime, options: DatabaseOptions) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let db = Database::open_sqlite(rt, &path, options).await.unwrap();
        let admin = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(Duration::ZERO);
        let admin = sqlx::SqliteConnection::connect_with(&admin).await.unwrap();
        Fixture {
            db,
            admin: Admin::Sqlite(admin),
            app: String::new(),
            schema: None,
            _dir: Some(dir),
        }
    }

    /// `None` (after printing why) when `UNO_TEST_POSTGRES_URL` is unset.
    pub async fn postgres(rt: &Runtime, options: DatabaseOptions) -> Option<Fixture> {
        Self::postgres_via(rt, options, |url| url.to_owned()).await
    }

    /// As [`postgres`](Self::postgres), the database under test connecting through
    /// `route(url)` (a [`Proxy`]'s URL), the admin connection directly.
    pub async fn postgres_via(
        rt: &Runtime,
        options: DatabaseOptions,
        route: impl FnOnce(&str) -> String,
    ) -> Option<Fixture> {
        let url = server_url("UNO_TEST_POSTGRES_URL")?;
        let schema = unique("uno_t");
        let app = unique("uno_app");
        let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .unwrap();
        let options = options
            .application_name(app.clone())
            .init_sql(format!("SET search_path TO {schema}"));
        let db = Database::connect(rt, &route(&url), options).await.unwrap();
        Some(Fixture {
            db,
            admin: Admin::Postgres(admin),
            app,
            schema: Some((schema, url)),
            _dir: None,
        })
    }

    /// `None` (after printing why) when `UNO_TEST_MYSQL_URL` is unset. The test gets its own
    /// database on the server.
    pub async fn mysql(rt: &Runtime, options: DatabaseOptions) -> Option<Fixture> {
        Self::mysql_via(rt, options, |url| url.to_owned()).await
    }

    /// As [`mysql`](Self::mysql), connecting through `route(url)`.
    pub async fn mysql_via(
        rt: &Runtime,
        options: DatabaseOptions,
        route: impl FnOnce(&str) -> String,
    ) -> Option<Fixture> {
        let url = server_url("UNO_TEST_MYSQL_URL")?;
        let name = unique("uno_t");
        let mut admin = sqlx::MySqlConnection::connect(&url).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let base = url.split('?').next().unwrap();
        let own = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
        let db = Database::connect(rt, &route(&own), options).await.unwrap();
        Some(Fixture {
            db,
            admin: Admin::MySql(admin),
            app: name.clone(),
            schema: Some((name, url)),
            _dir: None,
        })
    }

    pub fn kind(&self) -> DatabaseKind {
        self.db.kind()
    }

    /// The table's name as seen from the admin connection.
    fn qualified(&self, table: &str) -> String {
        match &self.schema {
            Some((schema, _)) => format!("{schema}.{table}"),
            None => table.to_owned(),
        }
    }

    /// Runs a statement through the admin connection.
    pub async fn admin_execute(&mut self, sql: String) {
        let sql = sqlx::AssertSqlSafe(sql);
        match &mut self.admin {
            Admin::Sqlite(c) => drop(c.execute(sql).await.unwrap()),
            Admin::Postgres(c) => drop(c.execute(sql).await.unwrap()),
            Admin::MySql(c) => drop(c.execute(sql).await.unwrap()),
        }
    }

    /// Runs `sql` through the admin connection, `{t}` replaced by the qualified `table`.
    pub async fn admin_execute_on(&mut self, sql: &str, table: &str) {
        let sql = sql.replace("{t}", &self.qualified(table));
        self.admin_execute(sql).await;
    }

    /// Creates `table (id BIGINT PRIMARY KEY, v BIGINT)` in the test's schema.
    pub async fn create_table(&mut self, table: &str) {
        let t = self.qualified(table);
        self.admin_execute(format!(
            "CREATE TABLE {t} (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)"
        ))
        .await;
    }

    /// An integer query run from the admin connection (`{t}` is replaced by the qualified table;
    /// `AS BIGINT` casts become MySQL's `AS SIGNED`).
    pub async fn admin_i64(&mut self, sql: &str, table: &str) -> i64 {
        let sql = sql.replace("{t}", &self.qualified(table));
        match &mut self.admin {
            Admin::Sqlite(c) => {
                let row = c.fetch_one(sqlx::AssertSqlSafe(sql)).await.unwrap();
                row.try_get::<i64, _>(0).unwrap()
            }
            Admin::Postgres(c) => {
                let row = c.fetch_one(sqlx::AssertSqlSafe(sql)).await.unwrap();
                row.try_get::<i64, _>(0).unwrap()
            }
            Admin::MySql(c) => {
                let sql = sql.replace("AS BIGINT)", "AS SIGNED)");
                let row = c.fetch_one(sqlx::AssertSqlSafe(sql)).await.unwrap();
                row.try_get::<i64, _>(0).unwrap()
            }
        }
    }

    pub async fn count(&mut self, table: &str) -> i64 {
        self.admin_i64("SELECT COUNT(*) FROM {t}", table).await
    }

    /// Transactions left open by the database under test: PostgreSQL sessions `idle in
    /// transaction` with the test's application_name; MySQL: see below; SQLite: 1 if the write
    /// lock is held.
    pub async fn open_transactions(&mut self) -> i64 {
        match &mut self.admin {
            Admin::Postgres(c) => {
                let row = c
                    .fetch_one(
                        sqlx::query(
                            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 \
                             AND state LIKE 'idle in transaction%'",
                        )
                        .bind(&self.app),
                    )
                    .await
                    .unwrap();
                row.try_get::<i64, _>(0).unwrap()
            }
            Admin::MySql(c) => {
                // Not INNODB_TRX: MariaDB refreshes it only when nobody read it for 100 ms, which
                // parallel tests never allow. Instead: connections not (yet) back in the pool
                // (being cleaned or closed, whatever they hold), plus pooled ones that say they
                // are inside a transaction.
                let row = c
                    .fetch_one(
                        sqlx::query(
                            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ?",
                        )
                        .bind(&self.app),
                    )
                    .await
                    .unwrap();
                let connections = row.try_get::<i64, _>(0).unwrap();
                let status = self.db.pool_status();
                let pool = self.db.mysql_pool().unwrap();
                // Checked-out connections are their sessions' business; idle ones are asked.
                let mut open = (connections - i64::from(status.size)).max(0);
                let mut held = Vec::new();
                while let Some(mut conn) = pool.try_acquire() {
                    let (in_tx,): (i64,) =
                        sqlx::query_as("SELECT CAST(@@in_transaction AS SIGNED)")
                            .fetch_one(&mut *conn)
                            .await
                            .unwrap();
                    open += in_tx;
                    held.push(conn);
                }
                // Back in the pool now (a plain drop would return them in a spawned task, later).
                for mut conn in held {
                    conn.return_to_pool().await;
                }
                open
            }
            Admin::Sqlite(c) => match c.execute("BEGIN IMMEDIATE").await {
                Ok(_) => {
                    c.execute("ROLLBACK").await.unwrap();
                    0
                }
                Err(_) => 1,
            },
        }
    }

    /// Server connections of the test still running a statement (0 on SQLite).
    pub async fn active_backends(&mut self) -> i64 {
        match &mut self.admin {
            Admin::Postgres(c) => {
                let row = c
                    .fetch_one(
                        sqlx::query(
                            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 \
                             AND state = 'active'",
                        )
                        .bind(&self.app),
                    )
                    .await
                    .unwrap();
                row.try_get::<i64, _>(0).unwrap()
            }
            Admin::MySql(c) => {
                let row = c
                    .fetch_one(
                        sqlx::query(
                            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ? \
                             AND COMMAND = 'Query'",
                        )
                        .bind(&self.app),
                    )
                    .await
                    .unwrap();
                row.try_get::<i64, _>(0).unwrap()
            }
            Admin::Sqlite(_) => 0,
        }
    }

    /// Ends every server connection of the database under test (PostgreSQL
    /// `pg_terminate_backend`, MySQL `KILL`), as a server restart would.
    pub async fn kill_connections(&mut self) {
        match &mut self.admin {
            Admin::Postgres(c) => {
                c.execute(
                    sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = $1",
                    )
                    .bind(&self.app),
                )
                .await
                .unwrap();
            }
            Admin::MySql(c) => {
                let ids: Vec<(i64,)> = sqlx::query_as(
                    "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST WHERE DB = ?",
                )
                .bind(&self.app)
                .fetch_all(&mut *c)
                .await
                .unwrap();
                for (id,) in ids {
                    let _ = c.execute(sqlx::AssertSqlSafe(format!("KILL {id}"))).await;
                }
            }
            Admin::Sqlite(_) => panic!("SQLite has no server connections to kill"),
        }
    }

    /// Waits until no transaction is open, no abandoned statement still runs on the server, and
    /// every pooled connection is idle.
    pub async fn settle(&mut self, rt: &Runtime) {
        let start = rt.now();
        loop {
            let open = self.open_transactions().await;
            let active = self.active_backends().await;
            let status = self.db.pool_status();
            if open == 0 && active == 0 && status.is_settled() {
                return;
            }
            if rt.now() - start >= Duration::from_secs(10) {
                let detail = self.server_detail().await;
                panic!(
                    "did not settle: {open} open transactions, {active} active, pool {status:?}; \
                     {detail}"
                );
            }
            // MariaDB refreshes INNODB_TRX only when it was last read over 100 ms ago: a faster
            // poll would read the same stale rows forever.
            let pause = if self.kind() == DatabaseKind::MySql {
                150
            } else {
                5
            };
            rt.sleep(Duration::from_millis(pause)).await;
        }
    }

    /// What the server's connections of the test are doing, for a failure message.
    async fn server_detail(&mut self) -> String {
        match &mut self.admin {
            Admin::MySql(c) => {
                let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
                    "SELECT CAST(p.ID AS SIGNED), p.COMMAND, CONCAT(COALESCE(t.trx_state, '-'), \
                     ' rows modified: ', COALESCE(t.trx_rows_modified, 0)), \
                     CAST(p.TIME AS SIGNED) FROM information_schema.PROCESSLIST p LEFT JOIN \
                     information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID WHERE p.DB = ?",
                )
                .bind(&self.app)
                .fetch_all(&mut *c)
                .await
                .unwrap_or_default();
                // What the pool's idle connections say of themselves.
                let mut pooled = Vec::new();
                if let Some(pool) = self.db.mysql_pool() {
                    let mut held = Vec::new();
                    for _ in 0..pool.size() {
                        let mut c = pool.acquire().await.unwrap();
                        let r: (i64, i64) = sqlx::query_as(
                            "SELECT CAST(CONNECTION_ID() AS SIGNED), \
                             CAST(@@in_transaction AS SIGNED)",
                        )
                        .fetch_one(&mut *c)
                        .await
                        .unwrap();
                        pooled.push(r);
                        held.push(c);
                    }
                }
                format!(
                    "connections (id, command, transaction, seconds): {rows:?}; pooled (id, in_tx) \
                     {pooled:?}"
                )
            }
            Admin::Postgres(c) => {
                let rows: Vec<(i32, String)> = sqlx::query_as(
                    "SELECT pid, COALESCE(state, '-') FROM pg_stat_activity WHERE application_name = $1",
                )
                .bind(&self.app)
                .fetch_all(&mut *c)
                .await
                .unwrap_or_default();
                format!("backends (pid, state): {rows:?}")
            }
            Admin::Sqlite(_) => String::new(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.admin, Admin::Postgres(_))
    }

    /// A statement that runs for seconds unless stopped.
    pub fn slow(&self) -> uno_db_sqlx::Query {
        match self.kind() {
            DatabaseKind::Postgres => uno_db_sqlx::query("SELECT pg_sleep(5)"),
            DatabaseKind::MySql => uno_db_sqlx::query("SELECT SLEEP(5)"),
            _ => uno_db_sqlx::query(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500000000) \
                 SELECT COUNT(*) FROM n",
            ),
        }
    }

    /// Closes the pool (within a few seconds) and drops the test's schema or database.
    pub async fn finish(mut self, rt: &Runtime) {
        let closed = rt
            .timeout(Duration::from_secs(10), "", self.db.close())
            .await;
        assert!(closed.is_ok(), "the pool did not close within 10 s");
        match (&self.schema, &mut self.admin) {
            (Some((schema, _)), Admin::Postgres(c)) => {
                c.execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .await
                    .unwrap();
            }
            (Some((name, _)), Admin::MySql(c)) => {
                c.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
}

/// A TCP forwarder on 127.0.0.1 in front of a database server, that a test can stop (refusing new
/// connections and cutting the open ones) to stand for a server that went down, without touching
/// the shared server. Runs on plain threads, so it works under every runtime.
pub struct Proxy {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Forwards a fresh local port to `target` (`host:port`).
    pub fn start(target: &str) -> Proxy {
        use std::io::copy;
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let target = target.to_owned();
        let accept = {
            let (stop, open) = (stop.clone(), open.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            client.set_nonblocking(false).unwrap();
                            let Ok(server) = TcpStream::connect(&target) else {
                                continue;
                            };
                            let mut open = open.lock().unwrap();
                            open.push(client.try_clone().unwrap());
                            open.push(server.try_clone().unwrap());
                            let (mut c2, mut s2) =
                                (client.try_clone().unwrap(), server.try_clone().unwrap());
                            let (mut c1, mut s1) = (client, server);
                            std::thread::spawn(move || {
                                let _ = copy(&mut c1, &mut s1);
                                let _ = s1.shutdown(std::net::Shutdown::Both);
                            });
                            std::thread::spawn(move || {
                                let _ = copy(&mut s2, &mut c2);
                                let _ = c2.shutdown(std::net::Shutdown::Both);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
                // The listener is dropped here: new connections are refused.
            })
        };
        Proxy {
            port,
            stop,
            open,
            accept: Some(accept),
        }
    }

    /// `url` (whose authority is `host:port` of the target) with the proxy's port instead.
    pub fn url(&self, url: &str, target: &str) -> String {
        url.replace(target, &format!("127.0.0.1:{}", self.port))
    }

    /// Refuses new connections and cuts every open one, as a server that went down.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            accept.join().unwrap();
        }
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `host:port` of a database URL (`scheme://user@host:port/db`).
pub fn authority(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}
