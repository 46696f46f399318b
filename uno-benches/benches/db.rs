//! The database load: 300 tasks on a pool of 5, two inserts per transaction, 10 % of the
//! transactions dropped after their first insert — uno-db-sqlx beside raw sqlx, on SQLite (a file
//! in WAL mode), and on PostgreSQL and MySQL when `UNO_TEST_POSTGRES_URL` / `UNO_TEST_MYSQL_URL`
//! are set. One iteration runs all 300 tasks; throughput is transactions started per second.
//!
//! After the measurement each side is checked for leaks: every connection back in the pool, no
//! transaction left open on the server, and exactly the rows of the committed transactions.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::sync::Notify;
use uno_db_sqlx::{Database, DatabaseKind, DatabaseOptions, enhanced_async_session, query};

const TASKS: i64 = 300;
const POOL: u32 = 5;
/// Every tenth transaction is dropped after its first insert.
const DROP_EVERY: i64 = 10;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Unique ids across iterations, so that no insert conflicts.
static NEXT_ID: AtomicI64 = AtomicI64::new(1);

/// Runs `tx` unless it is one to drop: then it is dropped as soon as it signals its first insert.
async fn maybe_dropped<F: Future>(i: i64, inserted: Arc<Notify>, tx: F) -> Option<F::Output> {
    if i % DROP_EVERY != 0 {
        return Some(tx.await);
    }
    futures_lite::future::or(async { Some(tx.await) }, async {
        inserted.notified().await;
        None
    })
    .await
}

/// One iteration on uno: 300 sessions, each running one transaction of two inserts.
async fn uno_batch(db: &Database, table: &'static str, committed: &Arc<AtomicU64>) {
    let insert = format!("INSERT INTO {table} (id, v) VALUES ($1, $2)");
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (db, insert, committed) = (db.clone(), insert.clone(), committed.clone());
            tokio::spawn(async move {
                let inserted = Arc::new(Notify::new());
                let signal = inserted.clone();
                let work = async move {
                    let session = enhanced_async_session(&db).await?;
                    // `async move`: a spawned task needs the closure to own what it uses (a
                    // closure borrowing from the task trips the compiler's `Send` check).
                    session
                        .transaction(async move |tx| {
                            let id = NEXT_ID.fetch_add(2, Ordering::Relaxed);
                            tx.execute(&query(insert.clone()).bind(id).bind(id)).await?;
                            signal.notify_one();
                            tx.execute(&query(insert.clone()).bind(id + 1).bind(id))
                                .await?;
                            Ok(())
                        })
                        .await
                };
                if let Some(Ok(())) = maybe_dropped(i, inserted, work).await {
                    committed.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// The same on raw sqlx: `pool.begin()` (`BEGIN IMMEDIATE` on SQLite, as uno does), two
/// inserts, `commit()`.
macro_rules! raw_batch {
    ($pool:expr, $table:expr, $placeholders:literal, $begin:expr, $committed:expr) => {{
        let insert = format!("INSERT INTO {} (id, v) VALUES {}", $table, $placeholders);
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let (pool, insert, committed) = ($pool.clone(), insert.clone(), $committed.clone());
                tokio::spawn(async move {
                    let inserted = Arc::new(Notify::new());
                    let work = async {
                        let mut tx = match $begin {
                            Some(sql) => pool.begin_with(sql).await?,
                            None => pool.begin().await?,
                        };
                        let id = NEXT_ID.fetch_add(2, Ordering::Relaxed);
                        let q = sqlx::AssertSqlSafe(insert.clone());
                        sqlx::query(q).bind(id).bind(id).execute(&mut *tx).await?;
                        inserted.notify_one();
                        let q = sqlx::AssertSqlSafe(insert.clone());
                        sqlx::query(q)
                            .bind(id + 1)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await
                    };
                    if let Some(Ok(())) = maybe_dropped(i, inserted.clone(), work).await {
                        committed.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    }};
}

/// Waits (at most 10 s) until `settled` holds, then says whether it did.
async fn settles(mut settled: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if settled().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Prints the leak check. `half` counts the transactions of which only one row exists (each
/// transaction writes two rows with the same `v`); it must be 0. A transaction dropped while its
/// `COMMIT` was in flight may have committed without being counted, so `rows` may exceed twice
/// `committed`, never fall below it.
fn report(name: &str, ok: bool, rows: i64, half: i64, committed: u64) {
    let exact = half == 0 && rows >= 2 * committed as i64 && rows % 2 == 0;
    println!(
        "db_load_leak_check/{name}: pool settled and no transaction open: {ok}; {rows} rows, \
         {half} half transactions, {committed} commits acknowledged: {}",
        if exact && ok { "clean" } else { "LEAK" }
    );
}

fn sqlite(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let mut g = uno_benches::Group::new(c, "db_load_sqlite");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(TASKS as u64));
    let (db, pool) = rt.block_on(async {
        let db = Database::open_sqlite(
            &uno_tokio::runtime().unwrap(),
            &path,
            DatabaseOptions::new().max_connections(POOL),
        )
        .await
        .unwrap();
        let connect = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(POOL)
            .connect_with(connect)
            .await
            .unwrap();
        for t in ["bench_uno", "bench_raw"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE TABLE {t} (id BIGINT PRIMARY KEY, v BIGINT)"
            )))
            .execute(&pool)
            .await
            .unwrap();
        }
        (db, pool)
    });
    let uno_committed = Arc::new(AtomicU64::new(0));
    let raw_committed = Arc::new(AtomicU64::new(0));
    g.bench_function("uno", |b| {
        b.iter(|| rt.block_on(uno_batch(&db, "bench_uno", &uno_committed)))
    });
    g.bench_function("sqlx", |b| {
        b.iter(|| {
            rt.block_on(async {
                raw_batch!(
                    pool,
                    "bench_raw",
                    "(?, ?)",
                    Some("BEGIN IMMEDIATE"),
                    raw_committed
                )
            })
        })
    });
    g.finish();
    rt.block_on(async {
        let count = |t: &'static str| {
            let pool = pool.clone();
            async move {
                let rows = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM {t}"
                )))
                .fetch_one(&pool)
                .await
                .unwrap();
                let half = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM (SELECT v FROM {t} GROUP BY v HAVING COUNT(*) <> 2) x"
                )))
                .fetch_one(&pool)
                .await
                .unwrap();
                (rows, half)
            }
        };
        let ok = settles(async || db.pool_status().is_settled()).await;
        let (rows, half) = count("bench_uno").await;
        report(
            "sqlite/uno",
            ok,
            rows,
            half,
            uno_committed.load(Ordering::Relaxed),
        );
        let ok = settles(async || pool.num_idle() == pool.size() as usize).await;
        let (rows, half) = count("bench_raw").await;
        report(
            "sqlite/sqlx",
            ok,
            rows,
            half,
            raw_committed.load(Ordering::Relaxed),
        );
        println!("db_load_stats/sqlite/uno: {}", db.stats());
        db.close().await;
        pool.close().await;
    });
}

/// A server benchmark: PostgreSQL or MySQL, each side in its own table, both dropped at the end.
macro_rules! server_bench {
    ($c:expr, $name:literal, $var:literal, $kind:expr, $pool_options:ty, $placeholders:literal, $open_tx:literal) => {{
        let Ok(url) = std::env::var($var) else {
            println!("db_load_{}: skipped, {} is not set", $name, $var);
            return;
        };
        let rt = runtime();
        let suffix = std::process::id();
        let (uno_t, raw_t) = (
            &*Box::leak(format!("bench_uno_{suffix}").into_boxed_str()),
            &*Box::leak(format!("bench_raw_{suffix}").into_boxed_str()),
        );
        let (db, pool) = rt.block_on(async {
            let db = Database::connect(
                &uno_tokio::runtime().unwrap(),
                &url,
                DatabaseOptions::new()
                    .max_connections(POOL)
                    .application_name("uno-bench"),
            )
            .await
            .unwrap();
            assert_eq!(db.kind(), $kind);
            let pool = <$pool_options>::new()
                .max_connections(POOL)
                .connect(&url)
                .await
                .unwrap();
            for t in [uno_t, raw_t] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE TABLE {t} (id BIGINT PRIMARY KEY, v BIGINT)"
                )))
                .execute(&pool)
                .await
                .unwrap();
            }
            (db, pool)
        });
        let mut g = uno_benches::Group::new($c, concat!("db_load_", $name));
        g.sample_size(10)
            .measurement_time(Duration::from_secs(5))
            .throughput(Throughput::Elements(TASKS as u64));
        let uno_committed = Arc::new(AtomicU64::new(0));
        let raw_committed = Arc::new(AtomicU64::new(0));
        g.bench_function("uno", |b| {
            b.iter(|| rt.block_on(uno_batch(&db, uno_t, &uno_committed)))
        });
        g.bench_function("sqlx", |b| {
            b.iter(|| {
                rt.block_on(async {
                    raw_batch!(
                        pool,
                        raw_t,
                        $placeholders,
                        None::<&'static str>,
                        raw_committed
                    )
                })
            })
        });
        g.finish();
        rt.block_on(async {
            let count = |t: &'static str| {
                let pool = pool.clone();
                async move {
                    let rows = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                        "SELECT COUNT(*) FROM {t}"
                    )))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                    let half = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                        "SELECT COUNT(*) FROM (SELECT v FROM {t} GROUP BY v HAVING COUNT(*) <> 2) x"
                    )))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                    (rows, half)
                }
            };
            let open = async || {
                let mut admin = <$pool_options>::new()
                    .max_connections(1)
                    .connect(&url)
                    .await
                    .unwrap()
                    .acquire()
                    .await
                    .unwrap();
                sqlx::query_scalar::<_, i64>($open_tx)
                    .fetch_one(&mut *admin)
                    .await
                    .unwrap_or(0)
            };
            let ok = settles(async || db.pool_status().is_settled()).await && open().await == 0;
            let (rows, half) = count(uno_t).await;
            report(
                concat!($name, "/uno"),
                ok,
                rows,
                half,
                uno_committed.load(Ordering::Relaxed),
            );
            let ok = settles(async || pool.num_idle() == pool.size() as usize).await;
            let (rows, half) = count(raw_t).await;
            report(
                concat!($name, "/sqlx"),
                ok,
                rows,
                half,
                raw_committed.load(Ordering::Relaxed),
            );
            println!("db_load_stats/{}/uno: {}", $name, db.stats());
            for t in [uno_t, raw_t] {
                let drop = format!("DROP TABLE {t}");
                sqlx::query(sqlx::AssertSqlSafe(drop))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            db.close().await;
            pool.close().await;
        });
    }};
}

fn postgres(c: &mut Criterion) {
    server_bench!(
        c,
        "postgres",
        "UNO_TEST_POSTGRES_URL",
        DatabaseKind::Postgres,
        sqlx::postgres::PgPoolOptions,
        "($1, $2)",
        "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'uno-bench' \
         AND state LIKE 'idle in transaction%'"
    );
}

fn mysql(c: &mut Criterion) {
    server_bench!(
        c,
        "mysql",
        "UNO_TEST_MYSQL_URL",
        DatabaseKind::MySql,
        sqlx::mysql::MySqlPoolOptions,
        "(?, ?)",
        "SELECT 0"
    );
}

criterion_group!(benches, sqlite, postgres, mysql);
criterion_main!(benches);
