//! Savepoints (nested transactions): a failed or dropped savepoint undoes its own work only, on
//! every exit path. SQLite always, PostgreSQL and MySQL when configured, each on four runtimes.

mod common;

use std::time::Duration;

use common::{Fixture, poll_times};
use uno_db_sqlx::{DatabaseOptions, DbError, Tx, enhanced_async_session, query};

async fn insert(tx: &mut Tx, id: i64) -> Result<(), DbError> {
    tx.execute(&query("INSERT INTO t VALUES ($1, $1)").bind(id))
        .await?;
    Ok(())
}

async fn ids(fx: &mut Fixture) -> Vec<i64> {
    let n = fx.count("t").await;
    let mut out = Vec::new();
    for id in 1..=9 {
        let sql = format!("SELECT COUNT(*) FROM {{t}} WHERE id = {id}");
        if fx.admin_i64(&sql, "t").await == 1 {
            out.push(id);
        }
    }
    assert_eq!(out.len() as i64, n);
    out
}

db_test!(a_failed_savepoint_undoes_only_its_work, |rt| {
    for mut fx in Fixture::all(&rt, DatabaseOptions::new()).await {
        fx.create_table("t").await;
        let session = enhanced_async_session(&fx.db).await.unwrap();
        session
            .transaction(async |tx| {
                insert(tx, 1).await?;
                let err = tx
                    .savepoint(async |tx| {
                        insert(tx, 2).await?;
                        Err::<(), _>(DbError::operation_failed("undo 2"))
                    })
                    .await
                    .unwrap_err();
                assert_eq!(err.to_string(), "undo 2");
                // A database error inside a savepoint (PostgreSQL aborts the transaction) is
                // recovered the same way.
                let err = tx
                    .savepoint(async |tx| {
                        insert(tx, 3).await?;
                        insert(tx, 1).await // duplicate key
                    })
                    .await
                    .unwrap_err();
                assert!(err.is_database_error(), "{err:?}");
                insert(tx, 4).await
            })
            .await
            .unwrap();
        assert_eq!(ids(&mut fx).await, [1, 4]);
        drop(session);
        fx.settle(&rt).await;
        fx.finish(&rt).await;
    }
});

db_test!(savepoints_nest, |rt| {
    for mut fx in Fixture::all(&rt, DatabaseOptions::new()).await {
        fx.create_table("t").await;
        let session = enhanced_async_session(&fx.db).await.unwrap();
        let kept = session
            .transaction(async |tx| {
                insert(tx, 1).await?;
                tx.savepoint(async |tx| {
                    insert(tx, 2).await?;
                    let inner = tx
                        .savepoint(async |tx| {
                            insert(tx, 3).await?;
                            Err::<(), _>(DbError::operation_failed("undo 3"))
                        })
                        .await;
                    assert!(inner.is_err());
                    tx.savepoint(async |tx| insert(tx, 4).await).await?;
                    insert(tx, 5).await
                })
                .await?;
                Ok("done")
            })
            .await
            .unwrap();
        assert_eq!(kept, "done");
        assert_eq!(ids(&mut fx).await, [1, 2, 4, 5]);
        drop(session);
        fx.settle(&rt).await;
        fx.finish(&rt).await;
    }
});

db_test!(a_dropped_savepoint_is_rolled_back, |rt| {
    for mut fx in Fixture::all(&rt, DatabaseOptions::new()).await {
        fx.create_table("t").await;
        let session = enhanced_async_session(&fx.db).await.unwrap();
        let rt2 = rt.clone();
        session
            .transaction(async |tx| {
                insert(tx, 1).await?;
                let stalled = tx.savepoint(async |tx| {
                    insert(tx, 2).await?;
                    rt2.sleep(Duration::from_secs(60)).await;
                    Ok(())
                });
                // Given up on while idle inside the savepoint: its work is undone.
                assert!(
                    rt2.timeout(Duration::from_millis(50), "", stalled)
                        .await
                        .is_err()
                );
                insert(tx, 3).await
            })
            .await
            .unwrap();
        assert_eq!(ids(&mut fx).await, [1, 3]);
        drop(session);
        fx.settle(&rt).await;
        fx.finish(&rt).await;
    }
});

db_test!(
    a_savepoint_dropped_after_every_poll_is_all_or_nothing,
    |rt| {
        for mut fx in Fixture::all(&rt, DatabaseOptions::new().max_connections(2)).await {
            fx.create_table("t").await;
            let mut completed = false;
            for k in 0..300 {
                fx.admin_execute_on("DELETE FROM {t}", "t").await;
                let session = enhanced_async_session(&fx.db).await.unwrap();
                let result = session
                    .transaction(async |tx| {
                        insert(tx, 1).await?;
                        let sp = tx.savepoint(async |tx| {
                            insert(tx, 2).await?;
                            insert(tx, 3).await
                        });
                        let finished = poll_times(sp, k).await;
                        insert(tx, 4).await?;
                        Ok(finished.is_some())
                    })
                    .await;
                drop(session);
                fx.settle(&rt).await;
                let rows = ids(&mut fx).await;
                match result {
                    // Dropped mid-statement: the transaction could not go on, nothing committed.
                    Err(e) => assert!(rows.is_empty(), "k = {k}: {rows:?} after {e}"),
                    Ok(false) => assert_eq!(rows, [1, 4], "k = {k}"),
                    Ok(true) => {
                        assert_eq!(rows, [1, 2, 3, 4], "k = {k}");
                        completed = true;
                        break;
                    }
                }
            }
            assert!(completed, "the savepoint never completed");
            fx.finish(&rt).await;
        }
    }
);
