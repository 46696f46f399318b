//! Sessions and transactions under cancellation, timeouts and errors, on SQLite (always),
//! PostgreSQL and MySQL (when `UNO_TEST_POSTGRES_URL` / `UNO_TEST_MYSQL_URL` are set), each on
//! four runtimes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Fixture, poll_times};
use uno_core::Runtime;
use uno_core::sync::AsyncEvent;
use uno_db_sqlx::{
    DatabaseOptions, DbError, IsolationLevel, Operation, SessionOperationGroup, TransactionOptions,
    TransactionRetry, enhanced_async_session, operation, query,
};

/// Every database the tests run on (PostgreSQL and MySQL only when configured).
async fn fixtures(rt: &Runtime, options: DatabaseOptions) -> Vec<Fixture> {
    Fixture::all(rt, options).await
}

fn insert(id: i64, v: i64) -> Operation {
    operation(move |tx| {
        Box::pin(async move {
            tx.execute(
                &query("INSERT INTO t (id, v) VALUES ($1, $2)")
                    .bind(id)
                    .bind(v),
            )
            .await?;
            Ok(())
        })
    })
}

fn slow_op(q: uno_db_sqlx::Query) -> Operation {
    operation(move |tx| {
        let q = q.clone();
        Box::pin(async move {
            tx.fetch_all(&q).await?;
            Ok(())
        })
    })
}

db_test!(drop_transaction_after_every_poll, |rt| {
    for mut fx in fixtures(&rt, DatabaseOptions::new().max_connections(2)).await {
        fx.create_table("t").await;
        let options = TransactionOptions::new();
        let mut finished_at = None;
        for k in 0..500 {
            let session = enhanced_async_session(&fx.db).await.unwrap();
            let ops = vec![insert(1, 1), insert(2, 2), insert(3, 3)];
            let out = poll_times(session.run_in_transaction(ops, options.clone()), k).await;
            drop(session);
            fx.settle(&rt).await;
            let rows = fx.count("t").await;
            match out {
                None if rows == 0 => continue,
                // Dropped while COMMIT was in flight: the server decided, all or nothing.
                None => assert_eq!(rows, 3, "k = {k}: partial commit"),
                Some(result) => {
                    result.unwrap();
                    assert_eq!(rows, 3, "k = {k}");
                }
            }
            finished_at = Some(k);
            break;
        }
        // How many polls the path needs depends on how fast the database answers; every k
        // below that was dropped and checked above.
        finished_at.expect("the transaction never completed");
        assert_eq!(fx.open_transactions().await, 0);
        fx.finish(&rt).await;
    }
});

db_test!(cancel_right_after_begin, |rt| {
    for mut fx in fixtures(&rt, DatabaseOptions::new().max_connections(2)).await {
        fx.create_table("t").await;
        let session = enhanced_async_session(&fx.db).await.unwrap();
        // BEGIN, then a slow statement: the future is dropped inside that window.
        let ops = vec![insert(1, 1), slow_op(fx.slow()), insert(2, 2)];
        let options = TransactionOptions::new();
        let run = session.run_in_transaction(ops, options.clone());
        let dropped = rt.timeout(Duration::from_millis(100), "", run).await;
        assert!(dropped.is_err());
        drop(session);
        fx.settle(&rt).await;
        assert_eq!(fx.count("t").await, 0);
        let stats = fx.db.stats();
        assert!(stats.closed_in_doubt + stats.recycled >= 1, "{stats}");

        // The same through cancellation: an error that says so, with the operation's index.
        let session = Arc::new(enhanced_async_session(&fx.db).await.unwrap());
        let canceller = {
            let (rt2, session) = (rt.clone(), session.clone());
            rt.spawn(async move {
                rt2.sleep(Duration::from_millis(100)).await;
                session.cancel();
            })
        };
        let ops = vec![insert(1, 1), slow_op(fx.slow()), insert(2, 2)];
        let err = session
            .run_in_transaction(ops, TransactionOptions::new())
            .await
            .unwrap_err();
        canceller.await.unwrap();
        assert!(err.is_cancelled(), "{err}");
        assert_eq!(
            err.operation_index(),
            Some(1),
            "{err} on {:?}",
            fx.db.kind()
        );
        drop(session);
        fx.settle(&rt).await;
        assert_eq!(fx.count("t").await, 0);
        fx.finish(&rt).await;
    }
});

db_test!(commit_without_reply_is_outcome_unknown, |rt| {
    let options = DatabaseOptions::new().statement_timeout(Duration::from_millis(300));
    let Some(mut fx) = Fixture::postgres(&rt, options).await else {
        return;
    };
    fx.create_table("t").await;
    // A deferred constraint trigger makes COMMIT itself slow (1 s), past the 300 ms limit.
    let schema_fn = "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$";
    let session = enhanced_async_session(&fx.db).await.unwrap();
    session.execute(&query(schema_fn)).await.unwrap();
    session
        .execute(&query(
            "CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON t DEFERRABLE INITIALLY DEFERRED \
             FOR EACH ROW EXECUTE FUNCTION slow_commit()",
        ))
        .await
        .unwrap();
    let ops = vec![insert(1, 1), insert(2, 2)];
    let err = session
        .run_in_transaction(ops, TransactionOptions::new())
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert!(err.operation_index().is_none());
    assert_eq!(fx.db.stats().outcome_unknown, 1);
    drop(session);
    let start = rt.now();
    while fx.active_backends().await > 0 {
        assert!(rt.now() - start < Duration::from_secs(10));
        rt.sleep(Duration::from_millis(20)).await;
    }
    fx.settle(&rt).await;
    let rows = fx.count("t").await;
    assert!(rows == 0 || rows == 2, "all or nothing, got {rows}");
    fx.finish(&rt).await;
});

db_test!(statement_timeout_on_a_slow_query, |rt| {
    let options = DatabaseOptions::new()
        .max_connections(2)
        .statement_timeout(Duration::from_millis(300));
    for mut fx in fixtures(&rt, options).await {
        fx.create_table("t").await;
        let session = enhanced_async_session(&fx.db).await.unwrap();
        let start = rt.now();
        let ops = vec![insert(1, 1), slow_op(fx.slow()), insert(2, 2)];
        let err = session
            .run_in_transaction(ops, TransactionOptions::new())
            .await
            .unwrap_err();
        let took = rt.now() - start;
        assert!(err.is_timeout(), "{err}");
        assert_eq!(err.operation_index(), Some(1));
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_secs(4), "{took:?}");
        assert_eq!(fx.count("t").await, 0, "the earlier write is absent");

        // The next session gets a working connection quickly, and can write.
        let start = rt.now();
        let next = enhanced_async_session(&fx.db).await.unwrap();
        next.run_in_transaction(vec![insert(3, 3)], TransactionOptions::new())
            .await
            .unwrap();
        assert!(rt.now() - start < Duration::from_secs(3));
        assert_eq!(fx.count("t").await, 1);
        // The timed-out session itself works again, on a fresh connection.
        session.execute(&query("SELECT 1")).await.unwrap();
        drop((session, next));
        fx.settle(&rt).await;
        fx.finish(&rt).await;
    }
});

db_test!(
    operation_error_names_its_index_and_reuses_the_connection,
    |rt| {
        for mut fx in fixtures(&rt, DatabaseOptions::new().max_connections(1)).await {
            fx.create_table("t").await;
            let session = enhanced_async_session(&fx.db).await.unwrap();
            for failing in 0..3 {
                let mut ops: Vec<Operation> = (0..3).map(|i| insert(i, i)).collect();
                ops[failing] = operation(move |_tx| {
                    Box::pin(
                        async move { Err(DbError::operation_failed(format!("step {failing}"))) },
                    )
                });
                let err = session
                    .run_in_transaction(ops, TransactionOptions::new())
                    .await
                    .unwrap_err();
                assert_eq!(err.operation_index(), Some(failing));
                assert_eq!(
                    err.to_string(),
                    format!("operation #{failing}: step {failing}")
                );
                assert_eq!(fx.count("t").await, 0);
            }
            // A database error (duplicate key) inside an operation, same rules.
            let err = session
                .run_in_transaction(vec![insert(7, 7), insert(7, 8)], TransactionOptions::new())
                .await
                .unwrap_err();
            assert!(err.is_database_error(), "{err}");
            assert_eq!(err.operation_index(), Some(1));
            let stats = fx.db.stats();
            assert_eq!(
                stats.closed_in_doubt + stats.recycled,
                0,
                "the connection was reused, not closed"
            );
            assert_eq!(stats.rolled_back, 4);
            assert_eq!(fx.db.pool_status().size, 1);
            assert_eq!(fx.open_transactions().await, 0);
            session
                .run_in_transaction(vec![insert(1, 1)], TransactionOptions::new())
                .await
                .unwrap();
            assert_eq!(fx.count("t").await, 1);
            let err = session
                .run_in_transaction(Vec::<Operation>::new(), TransactionOptions::new())
                .await
                .unwrap_err();
            assert!(err.is_config());
            drop(session);
            fx.finish(&rt).await;
        }
    }
);

db_test!(group_dropped_with_sessions_in_flight, |rt| {
    let options = DatabaseOptions::new()
        .max_connections(3)
        .statement_timeout(Duration::from_secs(30));
    for mut fx in fixtures(&rt, options).await {
        fx.create_table("t").await;
        let group = SessionOperationGroup::new(&fx.db);
        let mut tasks = Vec::new();
        for i in 0..2 {
            let session = group.create_session().await.unwrap();
            let slow = fx.slow();
            tasks.push(rt.spawn(async move {
                let ops = vec![insert(i, i), slow_op(slow)];
                session
                    .run_in_transaction(ops, TransactionOptions::new())
                    .await
            }));
        }
        let idle = group.create_session().await.unwrap();
        rt.sleep(Duration::from_millis(150)).await;
        let start = rt.now();
        drop(group);
        for task in tasks {
            let err = task.await.unwrap().unwrap_err();
            assert!(err.is_cancelled(), "{err}");
        }
        let err = idle.execute(&query("SELECT 1")).await.unwrap_err();
        assert!(err.is_session_closed(), "{err}");
        drop(idle);
        fx.settle(&rt).await;
        assert_eq!(fx.count("t").await, 0);
        fx.finish(&rt).await;
        assert!(rt.now() - start < Duration::from_secs(5));
    }
});

db_test!(group_close_reports_and_releases, |rt| {
    for fx in fixtures(&rt, DatabaseOptions::new().max_connections(3)).await {
        let group = SessionOperationGroup::new(&fx.db);
        let a = group.create_session().await.unwrap();
        let _b = group.create_session().await.unwrap();
        a.execute(&query("CREATE TABLE g (x BIGINT)"))
            .await
            .unwrap();
        let report = group.close().await;
        assert_eq!(report.sessions, 2);
        assert_eq!(report.released, 2);
        common::eventually(&rt, "pool settles", Duration::from_secs(10), || async {
            fx.db.pool_status().is_settled()
        })
        .await;
        assert!(
            a.execute(&query("SELECT 1"))
                .await
                .unwrap_err()
                .is_session_closed()
        );
        fx.finish(&rt).await;
    }
});

db_test!(pool_exhausted_then_freed, |rt| {
    let options = DatabaseOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(200));
    for fx in fixtures(&rt, options).await {
        let first = enhanced_async_session(&fx.db).await.unwrap();
        let start = rt.now();
        let err = enhanced_async_session(&fx.db).await.unwrap_err();
        assert!(err.is_acquire_timeout() && err.is_timeout(), "{err}");
        assert!(err.to_string().contains("max_connections"), "{err}");
        assert!(rt.now() - start >= Duration::from_millis(200));
        drop(first);
        let second = enhanced_async_session(&fx.db).await.unwrap();
        second.execute(&query("SELECT 1")).await.unwrap();
        drop(second);
        fx.finish(&rt).await;
    }
});

db_test!(serializable_conflict_retries_once, |rt| {
    for mut fx in Fixture::servers(&rt, DatabaseOptions::new().max_connections(3)).await {
        fx.create_table("t").await;
        fx.admin_execute_on("INSERT INTO {t} VALUES (1, 0)", "t")
            .await;
        let options = TransactionOptions::new()
            .isolation(IsolationLevel::Serializable)
            .retry(
                TransactionRetry::new(&rt, 3, Duration::from_millis(5), Duration::from_millis(50))
                    .unwrap(),
            );
        let group = Arc::new(SessionOperationGroup::with_options(&fx.db, options));
        let runs = Arc::new(AtomicUsize::new(0));
        let both_read = Arc::new(AtomicUsize::new(0));
        let go = AsyncEvent::new();
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let session = group.create_session().await.unwrap();
            let (runs, both_read, go, group, rt2) = (
                runs.clone(),
                both_read.clone(),
                go.clone(),
                group.clone(),
                rt.clone(),
            );
            tasks.push(rt.spawn(async move {
                let op = operation(move |tx| {
                    let (runs, both_read, go) = (runs.clone(), both_read.clone(), go.clone());
                    Box::pin(async move {
                        let first = runs.fetch_add(1, Ordering::SeqCst) < 2;
                        let v = tx
                            .fetch_scalar(&query("SELECT v FROM t WHERE id = 1"))
                            .await?
                            .as_i64()
                            .unwrap();
                        if first {
                            // Both transactions read before either writes: a real conflict.
                            if both_read.fetch_add(1, Ordering::SeqCst) == 1 {
                                go.set();
                            }
                            go.wait().await;
                        }
                        tx.execute(&query("UPDATE t SET v = $1 WHERE id = 1").bind(v + 1))
                            .await?;
                        Ok(())
                    })
                });
                let _ = &rt2;
                group.run_in_transaction(&session, vec![op]).await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "two transactions and exactly one retry"
        );
        assert_eq!(group.report().stats.retries, 1);
        assert_eq!(fx.admin_i64("SELECT v FROM {t} WHERE id = 1", "t").await, 2);
        drop(group);
        fx.settle(&rt).await;
        fx.finish(&rt).await;
    }
});

/// A tiny seeded generator (SplitMix64), so the stress run is reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

fn transfer(from: i64, to: i64, amount: i64) -> Vec<Operation> {
    vec![
        operation(move |tx| {
            Box::pin(async move {
                tx.execute(
                    &query("UPDATE t SET v = v - $1 WHERE id = $2")
                        .bind(amount)
                        .bind(from),
                )
                .await?;
                Ok(())
            })
        }),
        operation(move |tx| {
            Box::pin(async move {
                tx.execute(
                    &query("UPDATE t SET v = v + $1 WHERE id = $2")
                        .bind(amount)
                        .bind(to),
                )
                .await?;
                Ok(())
            })
        }),
    ]
}

db_test!(stress_random_cancellation_keeps_the_books_balanced, |rt| {
    let options = DatabaseOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(20))
        .statement_timeout(Duration::from_secs(10));
    for mut fx in fixtures(&rt, options).await {
        fx.create_table("t").await;
        for id in 0..8 {
            fx.admin_execute_on(&format!("INSERT INTO {{t}} VALUES ({id}, 0)"), "t")
                .await;
        }
        let retry = TransactionOptions::new().retry(TransactionRetry::standard(&rt));
        let mut rng = Rng(0x5EED);
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let (from, to, amount) = (
                rng.below(8) as i64,
                rng.below(8) as i64,
                1 + rng.below(50) as i64,
            );
            let mode = rng.below(3);
            let k = rng.below(12) as usize;
            let wait = Duration::from_millis(rng.below(20));
            let (db, rt2, retry) = (fx.db.clone(), rt.clone(), retry.clone());
            tasks.push(rt.spawn(async move {
                let work = async {
                    let session = enhanced_async_session(&db).await?;
                    session
                        .run_in_transaction(transfer(from, to, amount), retry.clone())
                        .await?;
                    Ok::<_, DbError>(())
                };
                match mode {
                    0 => {
                        let _ = rt2.timeout(wait, "", work).await;
                    }
                    1 => {
                        let _ = poll_times(work, k).await;
                    }
                    _ => {
                        let _ = work.await;
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        fx.settle(&rt).await;
        assert_eq!(fx.open_transactions().await, 0);
        assert_eq!(
            fx.admin_i64("SELECT CAST(COALESCE(SUM(v), 0) AS BIGINT) FROM {t}", "t")
                .await,
            0
        );
        assert_eq!(fx.count("t").await, 8);
        fx.finish(&rt).await;
    }
});
