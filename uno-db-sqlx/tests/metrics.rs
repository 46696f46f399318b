//! With the `metrics` feature, a database reports its sessions, statements, timeouts,
//! transactions, retries and in-doubt connections through the `metrics` facade, labelled with its
//! name. The handles bind when the database is opened, so the recorder is installed around the
//! opening only; the exact values are checked after a known workload on SQLite.

#![cfg(feature = "metrics")]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use sqlx::{ConnectOptions, Connection};
use uno_core::Runtime;
use uno_db_sqlx::{
    Database, DatabaseOptions, DbError, TransactionOptions, TransactionRetry,
    enhanced_async_session, query,
};

/// `metric{label=value,...}` -> value, for the metrics of this crate.
fn snapshot(snapshotter: &Snapshotter) -> BTreeMap<String, DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name().starts_with("uno_db_"))
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<_> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            (format!("{}{{{}}}", key.name(), labels.join(",")), value)
        })
        .collect()
}

fn counter(seen: &BTreeMap<String, DebugValue>, key: &str) -> u64 {
    match seen.get(key) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{key}: {other:?} in {seen:#?}"),
    }
}

fn gauge(seen: &BTreeMap<String, DebugValue>, key: &str) -> f64 {
    match seen.get(key) {
        Some(DebugValue::Gauge(v)) => v.into_inner(),
        other => panic!("{key}: {other:?} in {seen:#?}"),
    }
}

fn samples(seen: &BTreeMap<String, DebugValue>, key: &str) -> usize {
    match seen.get(key) {
        Some(DebugValue::Histogram(v)) => v.len(),
        other => panic!("{key}: {other:?} in {seen:#?}"),
    }
}

/// A statement SQLite runs for seconds unless interrupted.
fn slow() -> uno_db_sqlx::Query {
    query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500000000) \
         SELECT COUNT(*) FROM n",
    )
}

async fn until(rt: &Runtime, what: &str, mut condition: impl FnMut() -> bool) {
    common::eventually(rt, what, Duration::from_secs(10), || {
        std::future::ready(condition())
    })
    .await;
}

#[test]
fn a_known_workload_reports_exact_values() {
    let rt = uno_smol::runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let options = DatabaseOptions::new().statement_timeout(Duration::from_millis(300));
    let (ledger, scratch) = metrics::with_local_recorder(&recorder, || {
        smol::block_on(async {
            let ledger = Database::open_sqlite(&rt, &path, options.clone().name("ledger"));
            // Connections in doubt are closed at once, not recycled.
            let scratch_options = options
                .clone()
                .name("scratch")
                .recycle_timeout(Duration::ZERO);
            let scratch = Database::open_sqlite(&rt, dir.path().join("s.db"), scratch_options);
            (ledger.await.unwrap(), scratch.await.unwrap())
        })
    });
    // Every metric is registered at opening, before anything happened. (A snapshot drains the
    // recorder's values: this one drains zeros.)
    let seen = snapshot(&snapshotter);
    assert_eq!(
        counter(&seen, "uno_db_sessions_opened_total{name=ledger}"),
        0
    );
    assert_eq!(
        counter(
            &seen,
            "uno_db_transactions_total{name=scratch,outcome=committed}"
        ),
        0
    );

    // Kept open across the snapshot: one session active.
    let idle = smol::block_on(enhanced_async_session(&ledger)).unwrap();
    smol::block_on(async {
        let session = enhanced_async_session(&ledger).await.unwrap();
        session
            .execute(&query("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT)"))
            .await
            .unwrap();
        session
            .execute(&query("INSERT INTO t VALUES (1, 100)"))
            .await
            .unwrap();
        // Committed: BEGIN IMMEDIATE, UPDATE, COMMIT.
        session
            .transaction(async |tx| {
                tx.execute(&query("UPDATE t SET v = v - 1")).await?;
                Ok(())
            })
            .await
            .unwrap();
        // Rolled back: BEGIN IMMEDIATE, UPDATE, ROLLBACK.
        session
            .transaction(async |tx| {
                tx.execute(&query("UPDATE t SET v = 0")).await?;
                Err::<(), _>(DbError::operation_failed("no"))
            })
            .await
            .unwrap_err();
        // Retried once: a deferred transaction reads, another connection commits a write, and
        // the transaction's own write fails with SQLITE_BUSY_SNAPSHOT (BEGIN, SELECT, UPDATE,
        // ROLLBACK); the second attempt commits (BEGIN, SELECT, UPDATE, COMMIT).
        let runs = AtomicUsize::new(0);
        let other = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
        let retry = TransactionRetry::exponential(&rt, 3, Duration::ZERO, Duration::ZERO).unwrap();
        let deferred = TransactionOptions::new().read_only(true).retry(retry);
        session
            .transaction_with(deferred, async |tx| {
                tx.fetch_one(&query("SELECT v FROM t")).await?;
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    let mut c = other.connect().await?;
                    sqlx::query("UPDATE t SET v = v + 1")
                        .execute(&mut c)
                        .await?;
                    c.close().await?;
                }
                tx.execute(&query("UPDATE t SET v = v * 2")).await?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        session.fetch_one(&query("SELECT 1")).await.unwrap();
        let one: (i64,) = session
            .with_connection(async |c: &mut sqlx::SqliteConnection| {
                sqlx::query_as("SELECT 1").fetch_one(c).await
            })
            .await
            .unwrap();
        assert_eq!(one.0, 1);
        // A timeout: the connection is in doubt, cleaned in the background and recycled.
        let err = session.fetch_all(&slow()).await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        until(&rt, "recycled", || ledger.stats().recycled == 1).await;
        drop(session);

        // On scratch: a timeout, and the connection is closed.
        let session = enhanced_async_session(&scratch).await.unwrap();
        let err = session.fetch_all(&slow()).await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        until(&rt, "closed", || scratch.stats().closed_in_doubt == 1).await;
        drop(session);
    });

    let seen = snapshot(&snapshotter);
    let l = |metric: &str| counter(&seen, &format!("uno_db_{metric}"));
    assert_eq!(l("sessions_opened_total{name=ledger}"), 2);
    assert_eq!(gauge(&seen, "uno_db_sessions_active{name=ledger}"), 1.0);
    assert_eq!(gauge(&seen, "uno_db_sessions_active{name=scratch}"), 0.0);
    // CREATE, INSERT, 3 transactions' UPDATE + the retried one.
    assert_eq!(l("statements_total{name=ledger,kind=execute}"), 6);
    // Two SELECTs in the retried transaction, fetch_one, and the slow one.
    assert_eq!(l("statements_total{name=ledger,kind=fetch}"), 4);
    // 4 BEGINs, 2 COMMITs, 2 ROLLBACKs (one before the retry).
    assert_eq!(l("statements_total{name=ledger,kind=control}"), 8);
    assert_eq!(l("statements_total{name=ledger,kind=sqlx}"), 1);
    // Durations of the statements that ended with a result: all but the timed-out one.
    let d = |kind: &str| {
        samples(
            &seen,
            &format!("uno_db_statement_duration_seconds{{name=ledger,kind={kind}}}"),
        )
    };
    assert_eq!(
        (d("execute"), d("fetch"), d("control"), d("sqlx")),
        (6, 3, 8, 1)
    );
    assert_eq!(l("statement_timeouts_total{name=ledger}"), 1);
    assert_eq!(l("transactions_total{name=ledger,outcome=committed}"), 2);
    assert_eq!(l("transactions_total{name=ledger,outcome=rolled_back}"), 2);
    assert_eq!(
        l("transactions_total{name=ledger,outcome=outcome_unknown}"),
        0
    );
    assert_eq!(l("transaction_retries_total{name=ledger}"), 1);
    assert_eq!(
        l("connections_in_doubt_total{name=ledger,outcome=recycled}"),
        1
    );
    assert_eq!(
        l("connections_in_doubt_total{name=ledger,outcome=closed}"),
        0
    );
    // The other database's metrics are its own.
    assert_eq!(l("sessions_opened_total{name=scratch}"), 1);
    assert_eq!(l("statements_total{name=scratch,kind=fetch}"), 1);
    assert_eq!(l("statement_timeouts_total{name=scratch}"), 1);
    assert_eq!(
        l("connections_in_doubt_total{name=scratch,outcome=recycled}"),
        0
    );
    assert_eq!(
        l("connections_in_doubt_total{name=scratch,outcome=closed}"),
        1
    );
    // The counters and the stats agree.
    let stats = ledger.stats();
    assert_eq!(
        (stats.committed, stats.rolled_back, stats.retries),
        (2, 2, 1)
    );
    drop(idle);
    smol::block_on(async {
        ledger.close().await;
        scratch.close().await;
    });
}

#[test]
fn a_database_opened_without_a_recorder_reports_nothing() {
    let rt = uno_smol::runtime();
    let dir = tempfile::tempdir().unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let db = smol::block_on(Database::open_sqlite(
        &rt,
        dir.path().join("q.db"),
        DatabaseOptions::new(),
    ))
    .unwrap();
    // A recorder installed after the opening does not see the database.
    metrics::with_local_recorder(&recorder, || {
        smol::block_on(async {
            let session = enhanced_async_session(&db).await.unwrap();
            session.execute(&query("SELECT 1")).await.unwrap();
        })
    });
    smol::block_on(db.close());
    assert!(snapshot(&snapshotter).is_empty());
}
