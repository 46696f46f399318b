//! sqlx's own API (`Executor`, `query_as`, `FromRow`) on a guarded session's and transaction's
//! connection, transactions as async closures, and the database's error code and source. SQLite
//! always, PostgreSQL and MySQL when configured, each on four runtimes.

mod common;

use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::Fixture;
use sqlx::Connection as _;
use uno_db_sqlx::{
    DatabaseKind, DatabaseOptions, DbError, TransactionOptions, TransactionRetry,
    enhanced_async_session, query,
};

#[derive(sqlx::FromRow, Debug, PartialEq)]
struct Account {
    id: i64,
    v: i64,
}

/// Runs `$body` with `$c` bound to the fixture's own connection type, lent by `$on`.
macro_rules! lend {
    ($kind:expr, $on:expr, |$c:ident| $body:expr) => {
        match $kind {
            DatabaseKind::Sqlite => {
                $on.with_connection(async |$c: &mut sqlx::SqliteConnection| $body)
                    .await
            }
            DatabaseKind::Postgres => {
                $on.with_connection(async |$c: &mut sqlx::PgConnection| $body)
                    .await
            }
            DatabaseKind::MySql => {
                $on.with_connection(async |$c: &mut sqlx::MySqlConnection| $body)
                    .await
            }
            other => panic!("no driver for {other:?}"),
        }
    };
}

/// The driver's own placeholder for the first argument.
fn p1(kind: DatabaseKind) -> &'static str {
    if kind == DatabaseKind::Postgres {
        "$1"
    } else {
        "?"
    }
}

db_test!(query_as_and_from_row_in_sessions_and_transactions, |rt| {
    for mut fx in Fixture::all(&rt, DatabaseOptions::new().max_connections(2)).await {
        fx.create_table("t").await;
        let kind = fx.kind();
        let session = enhanced_async_session(&fx.db).await.unwrap();
        let insert = format!("INSERT INTO t (id, v) VALUES (1, {})", p1(kind));
        let affected = lend!(kind, session, |c| {
            sqlx::query(sqlx::AssertSqlSafe(insert.clone()))
                .bind(10_i64)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })
        .unwrap();
        assert_eq!(affected, 1);
        let all = session
            .transaction(async |tx| {
                tx.execute(
                    &query("INSERT INTO t (id, v) VALUES ($1, $2)")
                        .bind(2)
                        .bind(20),
                )
                .await?;
                lend!(kind, tx, |c| {
                    sqlx::query_as::<_, Account>("SELECT id, v FROM t ORDER BY id")
                        .fetch_all(c)
                        .await
                })
            })
            .await
            .unwrap();
        assert_eq!(all, [Account { id: 1, v: 10 }, Account { id: 2, v: 20 }]);
        assert_eq!(fx.count("t").await, 2);
        drop(session);
        fx.settle(&rt).await;
        fx.finish(&rt).await;
    }
});

db_test!(the_wrong_connection_type_is_a_config_error, |rt| {
    for fx in Fixture::all(&rt, DatabaseOptions::new()).await {
        let session = enhanced_async_session(&fx.db).await.unwrap();
        let ran = AtomicBool::new(false);
        let err = if fx.kind() == DatabaseKind::Postgres {
            session
                .with_connection(async |_c: &mut sqlx::SqliteConnection| {
                    ran.store(true, Ordering::SeqCst);
                    Ok::<_, sqlx::Error>(())
                })
                .await
        } else {
            session
                .with_connection(async |_c: &mut sqlx::PgConnection| {
                    ran.store(true, Ordering::SeqCst);
                    Ok::<_, sqlx::Error>(())
                })
                .await
        }
        .unwrap_err();
        assert!(err.is_config(), "{err:?}");
        assert!(!ran.load(Ordering::SeqCst), "the closure ran");
        session.execute(&query("SELECT 1")).await.unwrap();
        drop(session);
        fx.finish(&rt).await;
    }
});

db_test!(a_slow_lent_call_times_out_and_rolls_back, |rt| {
    let options = DatabaseOptions::new()
        .max_connections(2)
        .statement_timeout(Duration::from_millis(300));
    for mut fx in Fixture::all(&rt, options).await {
        fx.create_table("t").await;
        let kind = fx.kind();
        let slow = fx.slow();
        let session = enhanced_async_session(&fx.db).await.unwrap();
        let start = rt.now();
        let err = session
            .transaction(async |tx| {
                tx.execute(&query("INSERT INTO t VALUES (1, 1)")).await?;
                lend!(kind, tx, |c| {
                    sqlx::query(sqlx::AssertSqlSafe(slow.sql().to_owned()))
                        .execute(c)
                        .await
                        .map(|_| ())
                })?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert!(rt.now() - start < Duration::from_secs(4));
        drop(session);
        fx.settle(&rt).await;
        assert_eq!(fx.count("t").await, 0);
        fx.finish(&rt).await;
    }
});

db_test!(a_transaction_dropped_in_a_lent_call_leaves_nothing, |rt| {
    for mut fx in Fixture::all(&rt, DatabaseOptions::new().max_connections(2)).await {
        fx.create_table("t").await;
        let kind = fx.kind();
        let slow = fx.slow();
        let session = enhanced_async_session(&fx.db).await.unwrap();
        let run = session.transaction(async |tx| {
            tx.execute(&query("INSERT INTO t VALUES (1, 1)")).await?;
            lend!(kind, tx, |c| {
                sqlx::query(sqlx::AssertSqlSafe(slow.sql().to_owned()))
                    .execute(c)
                    .await
                    .map(|_| ())
            })?;
            Ok(())
        });
        assert!(
            rt.timeout(Duration::from_millis(150), "", run)
                .await
                .is_err()
        );
        drop(session);
        fx.settle(&rt).await;
        assert_eq!(fx.count("t").await, 0);
        assert_eq!(fx.open_transactions().await, 0);
        fx.finish(&rt).await;
    }
});

// A sqlx transaction begun on a lent connection and never ended must not reach the pool.
db_test!(a_sqlx_transaction_left_open_is_rolled_back, |rt| {
    for mut fx in Fixture::all(&rt, DatabaseOptions::new().max_connections(1)).await {
        fx.create_table("t").await;
        let kind = fx.kind();
        let session = enhanced_async_session(&fx.db).await.unwrap();
        let err = lend!(kind, session, |c| {
            let mut tx = c.begin().await?;
            sqlx::query("INSERT INTO t VALUES (1, 1)")
                .execute(&mut *tx)
                .await?;
            std::mem::forget(tx);
            Ok::<_, sqlx::Error>(())
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("left a sqlx transaction open"),
            "{err}"
        );
        drop(session);
        fx.settle(&rt).await;
        assert_eq!(fx.count("t").await, 0);
        let next = enhanced_async_session(&fx.db).await.unwrap();
        next.execute(&query("INSERT INTO t VALUES (2, 2)"))
            .await
            .unwrap();
        drop(next);
        assert_eq!(fx.count("t").await, 1);
        fx.finish(&rt).await;
    }
});

db_test!(a_closure_transaction_is_rerun_after_a_conflict, |rt| {
    for fx in Fixture::servers(&rt, DatabaseOptions::new()).await {
        let kind = fx.kind();
        let retry = TransactionRetry::new(&rt, 3, Duration::ZERO, Duration::ZERO).unwrap();
        let session = enhanced_async_session(&fx.db).await.unwrap();
        let runs = AtomicUsize::new(0);
        let conflict = if kind == DatabaseKind::Postgres {
            query("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$")
        } else {
            query("SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'deadlock'")
        };
        // The options are a temporary, moved into the call: the future outlives the statement.
        let run = session.transaction_with(TransactionOptions::new().retry(retry), async |tx| {
            if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                tx.execute(&conflict).await?;
            }
            tx.fetch_scalar(&query("SELECT 7")).await
        });
        let value = run.await.unwrap();
        assert_eq!(value.as_i64(), Some(7));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(fx.db.stats().retries, 1);
        drop(session);
        fx.finish(&rt).await;
    }
});

db_test!(a_spawned_closure_transaction_commits, |rt| {
    for mut fx in Fixture::all(&rt, DatabaseOptions::new()).await {
        fx.create_table("t").await;
        let session = Arc::new(enhanced_async_session(&fx.db).await.unwrap());
        let task = rt.spawn({
            let session = session.clone();
            async move {
                session
                    .transaction(async |tx| {
                        for id in 0..3 {
                            tx.execute(&query("INSERT INTO t VALUES ($1, $1)").bind(id))
                                .await?;
                        }
                        Ok(())
                    })
                    .await
            }
        });
        task.await.unwrap().unwrap();
        assert_eq!(fx.count("t").await, 3);
        drop(session);
        fx.finish(&rt).await;
    }
});

db_test!(database_errors_carry_their_code_and_source, |rt| {
    for mut fx in Fixture::all(&rt, DatabaseOptions::new()).await {
        fx.create_table("t").await;
        let session = enhanced_async_session(&fx.db).await.unwrap();
        session
            .execute(&query("INSERT INTO t VALUES (1, 1)"))
            .await
            .unwrap();
        let err = session
            .execute(&query("INSERT INTO t VALUES (1, 2)"))
            .await
            .unwrap_err();
        let expected = match fx.kind() {
            DatabaseKind::Postgres => "23505",
            DatabaseKind::MySql => "1062",
            _ => "1555",
        };
        assert_eq!(err.code().as_deref(), Some(expected), "{err:?}");
        assert!(err.is_database_error() && !err.is_serialization_failure());
        let source = err.source().expect("the database's error").to_string();
        assert!(!source.contains("error returned from database"), "{source}");
        assert!(
            source.to_lowercase().contains("duplicate") || source.contains("UNIQUE"),
            "{source}"
        );
        assert!(
            !err.to_string().contains(&source),
            "Display repeats the source: {err}"
        );
        drop(session);
        fx.finish(&rt).await;
    }
});

#[test]
fn an_operation_error_has_no_code() {
    let err = DbError::operation_failed("no");
    assert_eq!(err.code(), None);
    assert!(err.source().is_none());
}
