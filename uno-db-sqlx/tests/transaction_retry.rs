//! The retry of serialization failures runs on uno-core's `Retry` policy: its counters, hook and
//! limits apply, only serialization failures are retried, the backoff stops on cancellation and the
//! final error keeps the attempt count. SQLite (a lock held by another connection makes `BEGIN
//! IMMEDIATE` busy), PostgreSQL (an operation raising SQLSTATE 40001) and MySQL (one signalling
//! a deadlock, 1213), each on four runtimes.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Fixture, eventually};
use uno_core::Runtime;
use uno_core::resilience::{Backoff, Retry};
use uno_db_sqlx::{
    DatabaseKind, DatabaseOptions, DbError, Operation, SessionOperationGroup, TransactionOptions,
    TransactionRetry, operation, query,
};

fn options() -> DatabaseOptions {
    DatabaseOptions::new()
        .max_connections(3)
        .busy_timeout(Duration::from_millis(20))
}

async fn fixtures(rt: &Runtime) -> Vec<Fixture> {
    Fixture::all(rt, options()).await
}

/// An operation counting its runs that fails with a serialization failure on its first
/// `conflicts` runs on PostgreSQL (SQLSTATE 40001) and MySQL (a deadlock, 1213); on SQLite the
/// test makes `BEGIN IMMEDIATE` busy instead.
fn conflicting(runs: &Arc<AtomicUsize>, conflicts: usize) -> Operation<usize> {
    let runs = runs.clone();
    operation(move |tx| {
        let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move {
            if run <= conflicts {
                match tx.kind() {
                    DatabaseKind::Postgres => {
                        tx.execute(&query(
                            "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$",
                        ))
                        .await?;
                    }
                    DatabaseKind::MySql => {
                        tx.execute(&query(
                            "SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'deadlock'",
                        ))
                        .await?;
                    }
                    _ => {}
                }
            }
            Ok(run)
        })
    })
}

/// Holds SQLite's write lock from the admin connection, so the transaction's `BEGIN IMMEDIATE`
/// fails busy after the busy timeout.
async fn lock_sqlite(fx: &mut Fixture) {
    if fx.kind() == DatabaseKind::Sqlite {
        fx.admin_execute("BEGIN IMMEDIATE".into()).await;
    }
}

async fn unlock_sqlite(fx: &mut Fixture) {
    if fx.kind() == DatabaseKind::Sqlite {
        fx.admin_execute("ROLLBACK".into()).await;
    }
}

db_test!(
    conflicts_are_retried_through_the_policy_and_its_hook,
    |rt| {
        for fx in Fixture::servers(&rt, options()).await {
            let hook = Arc::new(Mutex::new(Vec::new()));
            let policy = {
                let hook = hook.clone();
                Retry::builder(&rt)
                    .max_attempts(5)
                    .backoff(Backoff::constant(Duration::from_millis(5)))
                    .on_retry(move |attempt, err, _| {
                        let err: &DbError = err.inner().unwrap();
                        hook.lock()
                            .unwrap()
                            .push((attempt, err.is_serialization_failure()));
                    })
                    .build()
                    .unwrap()
            };
            let retry = TransactionRetry::from_policy(policy);
            let group = SessionOperationGroup::with_options(
                &fx.db,
                TransactionOptions::new().retry(retry.clone()),
            );
            let session = group.create_session().await.unwrap();
            let runs = Arc::new(AtomicUsize::new(0));
            let out = group
                .run_in_transaction(&session, vec![conflicting(&runs, 2)])
                .await
                .unwrap();
            assert_eq!(out, [3], "two conflicts, then the third run commits");
            assert_eq!(*hook.lock().unwrap(), [(1, true), (2, true)]);
            let stats = retry.policy().stats();
            assert_eq!(
                (stats.calls, stats.attempts, stats.retries, stats.successes),
                (1, 3, 2, 1)
            );
            assert_eq!(group.report().stats.retries, 2);
            assert_eq!(fx.db.stats().retries, 2);
            drop(session);
            drop(group);
            fx.finish(&rt).await;
        }
    }
);

db_test!(exhausted_retries_keep_the_attempt_count, |rt| {
    for mut fx in fixtures(&rt).await {
        let retry = TransactionRetry::exponential(&rt, 3, Duration::ZERO, Duration::ZERO).unwrap();
        let group = SessionOperationGroup::with_options(
            &fx.db,
            TransactionOptions::new().retry(retry.clone()),
        );
        let session = group.create_session().await.unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        lock_sqlite(&mut fx).await;
        let err = group
            .run_in_transaction(&session, vec![conflicting(&runs, usize::MAX)])
            .await
            .unwrap_err();
        unlock_sqlite(&mut fx).await;
        assert!(err.is_serialization_failure(), "{err:?}");
        assert_eq!(err.attempts(), 3, "{err}");
        assert!(err.to_string().contains("after 3 attempts"), "{err}");
        let stats = retry.policy().stats();
        assert_eq!((stats.attempts, stats.retries, stats.exhausted), (3, 2, 1));
        assert_eq!(group.report().stats.retries, 2);
        drop(session);
        drop(group);
        fx.settle(&rt).await;
        fx.finish(&rt).await;
    }
});

db_test!(
    only_serialization_failures_are_retried_whatever_the_policy,
    |rt| {
        for fx in fixtures(&rt).await {
            // A policy that would retry every error: the transaction still does not.
            let policy = Retry::builder(&rt)
                .max_attempts(5)
                .backoff(Backoff::constant(Duration::ZERO))
                .build()
                .unwrap();
            let retry = TransactionRetry::from_policy(policy);
            let group = SessionOperationGroup::with_options(
                &fx.db,
                TransactionOptions::new().retry(retry.clone()),
            );
            let session = group.create_session().await.unwrap();
            let runs = Arc::new(AtomicUsize::new(0));
            let failing = {
                let runs = runs.clone();
                operation(move |_tx| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Box::pin(async {
                        Err::<(), _>(DbError::operation_failed("insufficient funds"))
                    })
                })
            };
            let err = group
                .run_in_transaction(&session, vec![failing])
                .await
                .unwrap_err();
            assert_eq!(runs.load(Ordering::SeqCst), 1, "not retried");
            assert_eq!(err.operation_index(), Some(0));
            assert_eq!(err.attempts(), 1);
            assert_eq!(err.to_string(), "operation #0: insufficient funds");
            let stats = retry.policy().stats();
            assert_eq!((stats.retries, stats.failures, stats.exhausted), (0, 1, 0));
            assert_eq!(group.report().stats.retries, 0);
            drop(session);
            drop(group);
            fx.finish(&rt).await;
        }
    }
);

db_test!(cancelling_the_session_stops_the_backoff_sleep, |rt| {
    for mut fx in fixtures(&rt).await {
        let policy = Retry::builder(&rt)
            .backoff(Backoff::constant(Duration::from_secs(3600)))
            .retry_if(DbError::is_serialization_failure)
            .build()
            .unwrap();
        let retry = TransactionRetry::from_policy(policy);
        let options = TransactionOptions::new().retry(retry.clone());
        let group = SessionOperationGroup::new(&fx.db);
        let session = group.create_session().await.unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        lock_sqlite(&mut fx).await;
        let start = rt.now();
        let (out, ()) = futures_lite::future::zip(
            session.run_in_transaction(vec![conflicting(&runs, usize::MAX)], options.clone()),
            async {
                let retrying = || async { retry.policy().stats().retries == 1 };
                eventually(&rt, "a retry is waiting", Duration::from_secs(10), retrying).await;
                session.cancel();
            },
        )
        .await;
        unlock_sqlite(&mut fx).await;
        let err = out.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert_eq!(err.attempts(), 1);
        assert!(
            rt.now() - start < Duration::from_secs(60),
            "the backoff was not cut short"
        );
        assert_eq!(retry.policy().stats().attempts, 1, "no second attempt");
        drop(session);
        drop(group);
        fx.settle(&rt).await;
        fx.finish(&rt).await;
    }
});

// MySQL's lock wait timeout (1205, SQLSTATE HY000) is retried like its deadlock (1213).
db_test!(mysql_lock_wait_timeouts_are_retried, |rt| {
    let Some(fx) = Fixture::mysql(&rt, options()).await else {
        return;
    };
    let retry = TransactionRetry::exponential(&rt, 3, Duration::ZERO, Duration::ZERO).unwrap();
    let session = uno_db_sqlx::enhanced_async_session(&fx.db).await.unwrap();
    let runs = AtomicUsize::new(0);
    let out = session
        .transaction_with(TransactionOptions::new().retry(retry), async |tx| {
            if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                tx.execute(&query(
                    "SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1205, MESSAGE_TEXT = 'lock wait'",
                ))
                .await?;
            }
            Ok(runs.load(Ordering::SeqCst))
        })
        .await
        .unwrap();
    assert_eq!(out, 2);
    let err = session
        .execute(&query(
            "SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1205, MESSAGE_TEXT = 'lock wait'",
        ))
        .await
        .unwrap_err();
    assert!(err.is_serialization_failure(), "{err:?}");
    assert_eq!(err.code().as_deref(), Some("1205"));
    drop(session);
    fx.finish(&rt).await;
});
