//! Defects found under faults: each test here failed before its fix. SQLite always, PostgreSQL
//! when `UNO_TEST_POSTGRES_URL` is set, each on four runtimes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Fixture, Proxy, authority, server_url};
use uno_core::Runtime;
use uno_db_sqlx::{
    Database, DatabaseOptions, SessionOperationGroup, TransactionOptions, TransactionRetry,
    enhanced_async_session, operation, query,
};

async fn fixtures(rt: &Runtime, options: DatabaseOptions) -> Vec<Fixture> {
    Fixture::all(rt, options).await
}

/// The servers' URLs that are configured.
fn server_urls() -> Vec<String> {
    ["UNO_TEST_POSTGRES_URL", "UNO_TEST_MYSQL_URL"]
        .into_iter()
        .filter_map(server_url)
        .collect()
}

// PostgreSQL's 42501 (permission denied), 22021 and 22022 end in 5 or 6 in their low byte when
// read as numbers: they were taken for SQLite's busy codes and retried.
db_test!(other_numeric_codes_are_not_serialization_failures, |rt| {
    let Some(fx) = Fixture::postgres(&rt, DatabaseOptions::new()).await else {
        return;
    };
    let retry = TransactionRetry::new(&rt, 3, Duration::ZERO, Duration::ZERO).unwrap();
    let group = SessionOperationGroup::with_options(&fx.db, TransactionOptions::new().retry(retry));
    let session = group.create_session().await.unwrap();
    for code in ["42501", "22021", "22022", "23505"] {
        let runs = Arc::new(AtomicUsize::new(0));
        let op = {
            let runs = runs.clone();
            operation(move |tx| {
                runs.fetch_add(1, Ordering::SeqCst);
                let sql =
                    format!("DO $$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = '{code}'; END $$");
                Box::pin(async move {
                    tx.execute(&query(sql)).await?;
                    Ok(())
                })
            })
        };
        let err = group
            .run_in_transaction(&session, vec![op])
            .await
            .unwrap_err();
        assert!(err.is_database_error(), "{code}: {err}");
        assert!(
            !err.is_serialization_failure(),
            "{code} is not a serialization failure"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1, "{code} was retried");
        assert_eq!(err.attempts(), 1);
    }
    drop(session);
    drop(group);
    fx.finish(&rt).await;
});

// A terminated backend (57P01, also what a server restart sends) must mark the connection
// broken at once: before, the session kept the dead connection and failed a second time.
db_test!(terminated_backend_fails_one_statement_only, |rt| {
    for mut fx in Fixture::servers(&rt, DatabaseOptions::new().max_connections(2)).await {
        let session = enhanced_async_session(&fx.db).await.unwrap();
        session.execute(&query("SELECT 1")).await.unwrap();
        fx.kill_connections().await;
        // The server's FATAL message may take a moment to arrive.
        rt.sleep(Duration::from_millis(100)).await;
        let err = session.execute(&query("SELECT 1")).await.unwrap_err();
        assert!(err.is_connection_error(), "{err:?}");
        session
            .execute(&query("SELECT 1"))
            .await
            .expect("the next statement gets a new connection");
        drop(session);
        fx.finish(&rt).await;
    }
});

// Duration::MAX overflowed `acquire_timeout + 5 s` and `statement_timeout + margin` (a panic), a
// busy timeout of 2^31 ms or more panicked in sqlx's SQLite worker.
db_test!(extreme_durations_are_config_errors, |rt| {
    let dir = tempfile::tempdir().unwrap();
    let huge = Duration::from_millis(1 << 31);
    let cases = [
        (
            "acquire_timeout",
            DatabaseOptions::new().acquire_timeout(Duration::MAX),
        ),
        (
            "statement_timeout",
            DatabaseOptions::new().statement_timeout(Duration::MAX),
        ),
        (
            "server_timeout_margin",
            DatabaseOptions::new().server_timeout_margin(Duration::MAX),
        ),
        (
            "idle_in_transaction_timeout",
            DatabaseOptions::new().idle_in_transaction_timeout(Duration::MAX),
        ),
        ("busy_timeout", DatabaseOptions::new().busy_timeout(huge)),
        (
            "busy_timeout",
            DatabaseOptions::new().busy_timeout(Duration::MAX),
        ),
    ];
    for (i, (what, options)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("{i}.db"));
        let err = Database::open_sqlite(&rt, &path, options.clone())
            .await
            .unwrap_err();
        assert!(err.is_config(), "{what}: {err:?}");
        assert!(err.to_string().contains(what), "{what}: {err}");
        for url in server_urls() {
            let err = Database::connect(&rt, &url, options.clone())
                .await
                .unwrap_err();
            assert!(err.is_config(), "{what}: {err:?}");
        }
    }
});

// max_connections(u32::MAX) made sqlx allocate hundreds of gigabytes and abort the process.
db_test!(a_huge_pool_is_a_config_error, |rt| {
    let dir = tempfile::tempdir().unwrap();
    for n in [u32::MAX, 1 << 20] {
        let options = DatabaseOptions::new().max_connections(n);
        let err = Database::open_sqlite(&rt, dir.path().join("p.db"), options)
            .await
            .unwrap_err();
        assert!(err.is_config(), "{err:?}");
        assert!(err.to_string().contains("max_connections"), "{err}");
    }
});

// A refused connection was retried by sqlx until the acquire timeout and reported as "all N
// connections are in use".
db_test!(connection_refused_is_reported_as_such, |rt| {
    for url in server_urls() {
        let target = authority(&url);
        let mut proxy = Proxy::start(&target);
        let dead = proxy.url(&url, &target);
        proxy.stop();
        let options = DatabaseOptions::new().acquire_timeout(Duration::from_millis(500));
        let start = rt.now();
        let err = Database::connect(&rt, &dead, options).await.unwrap_err();
        assert!(
            rt.now() - start < Duration::from_secs(3),
            "took {:?}",
            rt.now() - start
        );
        assert!(err.is_connection_error(), "{err:?}");
        assert!(!err.is_acquire_timeout(), "{err:?}");
        let chain = format!("{err} / {:?}", err);
        assert!(chain.to_lowercase().contains("refused"), "{chain}");
    }
});

// A bad init_sql failed every connection; the error said the pool was exhausted.
db_test!(bad_init_sql_is_reported_as_such, |rt| {
    let options = DatabaseOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .init_sql("SELECT * FROM no_such_table_anywhere");
    let dir = tempfile::tempdir().unwrap();
    let mut results =
        vec![Database::open_sqlite(&rt, dir.path().join("i.db"), options.clone()).await];
    for url in server_urls() {
        results.push(Database::connect(&rt, &url, options.clone()).await);
    }
    for result in results {
        let err = result.unwrap_err();
        assert!(!err.is_acquire_timeout(), "{err:?}");
        let chain = format!("{err} / {:?}", err);
        assert!(chain.contains("no_such_table_anywhere"), "{chain}");
    }
});

// A server that went down after the pool was built: sessions reported "all N in use".
db_test!(server_down_is_reported_as_such, |rt| {
    for url in server_urls() {
        let target = authority(&url);
        let mut proxy = Proxy::start(&target);
        let options = DatabaseOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_millis(800));
        let route = |u: &str| proxy.url(u, &target);
        let fx = if url.starts_with("postgres") {
            Fixture::postgres_via(&rt, options, route).await
        } else {
            Fixture::mysql_via(&rt, options, route).await
        };
        let fx = fx.unwrap();
        let session = enhanced_async_session(&fx.db).await.unwrap();
        session.execute(&query("SELECT 1")).await.unwrap();
        proxy.stop();
        let err = session.execute(&query("SELECT 1")).await.unwrap_err();
        assert!(err.is_connection_error(), "{err:?}");
        let start = rt.now();
        let err = session.execute(&query("SELECT 1")).await.unwrap_err();
        assert!(rt.now() - start < Duration::from_secs(2));
        assert!(!err.to_string().contains("in use"), "{err}");
        assert!(err.is_connection_error(), "{err:?}");
        let chain = format!("{err} / {:?}", err);
        assert!(chain.to_lowercase().contains("refused"), "{chain}");
        drop(session);
        fx.finish(&rt).await;
    }
});

// SQLite bound missing arguments as NULL and ignored extra ones; PostgreSQL took one extra.
db_test!(a_wrong_bind_count_is_rejected, |rt| {
    for fx in fixtures(&rt, DatabaseOptions::new()).await {
        let session = enhanced_async_session(&fx.db).await.unwrap();
        for q in [
            query("SELECT $1").bind(1).bind(2),
            query("SELECT $1, $2").bind(1),
            query("SELECT 1").bind(1),
            query("SELECT $2").bind(1),
        ] {
            let err = session.fetch_all(&q).await.unwrap_err();
            assert!(!err.is_connection_error(), "{q:?}: {err:?}");
            assert!(err.to_string().contains("argument"), "{q:?}: {err}");
        }
        // Placeholders inside literals, quoted names and comments do not count.
        let row = session
            .fetch_one(&query("SELECT '$2' AS \"$3\", $1 -- $4\n").bind(7))
            .await
            .unwrap();
        assert_eq!(row.values()[0].as_str(), Some("$2"));
        drop(session);
        fx.finish(&rt).await;
    }
});

// A statement timeout while SQLite's `BEGIN IMMEDIATE` waited for the write lock left the
// connection busy until the busy timeout ran out: the next session waited 2.5 s, not 0.5 s.
db_test!(a_timeout_in_sqlite_busy_wait_frees_the_connection, |rt| {
    let options = DatabaseOptions::new()
        .max_connections(1)
        .busy_timeout(Duration::from_secs(4))
        .statement_timeout(Duration::from_millis(400));
    let mut fx = Fixture::sqlite(&rt, options).await;
    fx.create_table("t").await;
    fx.admin_execute("BEGIN IMMEDIATE".into()).await;
    let session = enhanced_async_session(&fx.db).await.unwrap();
    let op = operation(|tx| {
        Box::pin(async move {
            tx.execute(&query("INSERT INTO t VALUES (1, 1)")).await?;
            Ok(())
        })
    });
    let err = session
        .run_in_transaction(vec![op], TransactionOptions::new())
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    drop(session);
    // The lock is still held: a reader (WAL) needs no lock, only a free connection.
    let start = rt.now();
    let next = enhanced_async_session(&fx.db).await.unwrap();
    next.execute(&query("SELECT COUNT(*) FROM t"))
        .await
        .unwrap();
    let waited = rt.now() - start;
    assert!(
        waited < Duration::from_millis(1500),
        "the next session waited {waited:?}"
    );
    fx.admin_execute("ROLLBACK".into()).await;
    next.execute(&query("INSERT INTO t VALUES (2, 2)"))
        .await
        .unwrap();
    drop(next);
    fx.finish(&rt).await;
});

// `Session::close` returned before its connection was back in the pool.
db_test!(close_returns_the_connection_before_it_returns, |rt| {
    for fx in fixtures(&rt, DatabaseOptions::new().max_connections(2)).await {
        for i in 0..8 {
            let session = enhanced_async_session(&fx.db).await.unwrap();
            session.execute(&query("SELECT 1")).await.unwrap();
            session.close().await;
            let status = fx.db.pool_status();
            assert!(
                status.is_settled() && status.idle >= 1,
                "run {i}: {status:?}"
            );
        }
        fx.finish(&rt).await;
    }
});
