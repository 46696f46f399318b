//! Connections in doubt are cleaned in the background and go back to the pool, or are closed when
//! that cannot be done safely or in time. SQLite always, PostgreSQL and MySQL when configured,
//! each on four runtimes.

mod common;

use std::time::Duration;

use common::Fixture;
use uno_db_sqlx::{DatabaseKind, DatabaseOptions, Session, enhanced_async_session, query};

/// The server's id for the session's connection (None on SQLite).
async fn backend_id(session: &Session, kind: DatabaseKind) -> Option<i64> {
    let sql = match kind {
        DatabaseKind::Postgres => "SELECT CAST(pg_backend_pid() AS BIGINT)",
        DatabaseKind::MySql => "SELECT CAST(CONNECTION_ID() AS SIGNED)",
        _ => return None,
    };
    session.fetch_scalar(&query(sql)).await.unwrap().as_i64()
}

db_test!(a_transaction_dropped_between_statements_is_recycled, |rt| {
    for mut fx in Fixture::all(&rt, DatabaseOptions::new().max_connections(1)).await {
        fx.create_table("t").await;
        let kind = fx.kind();
        let session = enhanced_async_session(&fx.db).await.unwrap();
        let before = backend_id(&session, kind).await;
        let rt2 = rt.clone();
        let idle_inside = session.transaction(async |tx| {
            tx.execute(&query("INSERT INTO t VALUES (1, 1)")).await?;
            rt2.sleep(Duration::from_secs(60)).await;
            Ok(())
        });
        assert!(
            rt.timeout(Duration::from_millis(100), "", idle_inside)
                .await
                .is_err()
        );
        fx.settle(&rt).await;
        let stats = fx.db.stats();
        assert_eq!((stats.recycled, stats.closed_in_doubt), (1, 0), "{stats}");
        assert_eq!(fx.count("t").await, 0, "rolled back");
        // The same server connection, clean: it can write the row the dropped one held.
        session
            .execute(&query("INSERT INTO t VALUES (1, 2)"))
            .await
            .unwrap();
        assert_eq!(backend_id(&session, kind).await, before);
        assert_eq!(fx.db.pool_status().size, 1);
        drop(session);
        fx.settle(&rt).await;
        fx.finish(&rt).await;
    }
});

db_test!(a_timed_out_statement_is_recycled_once_it_stops, |rt| {
    let options = DatabaseOptions::new()
        .max_connections(1)
        .statement_timeout(Duration::from_millis(200))
        .server_timeout_margin(Duration::from_millis(300));
    for mut fx in Fixture::all(&rt, options).await {
        fx.create_table("t").await;
        let slow = fx.slow();
        let session = enhanced_async_session(&fx.db).await.unwrap();
        let err = session
            .transaction(async |tx| {
                tx.execute(&query("INSERT INTO t VALUES (1, 1)")).await?;
                tx.fetch_all(&slow).await
            })
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        drop(session);
        fx.settle(&rt).await;
        // The abandoned statement ended (SQLite interrupted it, the servers' own limits stopped
        // it with an error that sqlx hands to the next call): cleaned, not closed.
        let stats = fx.db.stats();
        assert_eq!((stats.recycled, stats.closed_in_doubt), (1, 0), "{stats}");
        assert_eq!(fx.count("t").await, 0);
        let next = enhanced_async_session(&fx.db).await.unwrap();
        let kind = fx.kind();
        next.execute(&query("INSERT INTO t VALUES (1, 2)"))
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e:?}"));
        drop(next);
        fx.finish(&rt).await;
    }
});

db_test!(a_zero_recycle_timeout_closes_instead, |rt| {
    let options = DatabaseOptions::new()
        .max_connections(1)
        .recycle_timeout(Duration::ZERO);
    for mut fx in Fixture::all(&rt, options).await {
        fx.create_table("t").await;
        let session = enhanced_async_session(&fx.db).await.unwrap();
        let rt2 = rt.clone();
        let idle_inside = session.transaction(async |tx| {
            tx.execute(&query("INSERT INTO t VALUES (1, 1)")).await?;
            rt2.sleep(Duration::from_secs(60)).await;
            Ok(())
        });
        assert!(
            rt.timeout(Duration::from_millis(100), "", idle_inside)
                .await
                .is_err()
        );
        drop(session);
        fx.settle(&rt).await;
        let stats = fx.db.stats();
        assert_eq!((stats.recycled, stats.closed_in_doubt), (0, 1), "{stats}");
        assert_eq!(fx.count("t").await, 0);
        fx.finish(&rt).await;
    }
});

// The server would let the abandoned statement run for seconds: cleaning gives up at the recycle
// timeout and closes the connection.
db_test!(a_recycle_that_takes_too_long_closes, |rt| {
    let options = DatabaseOptions::new()
        .max_connections(1)
        .statement_timeout(Duration::from_millis(100))
        .server_timeout_margin(Duration::from_secs(20))
        .recycle_timeout(Duration::from_millis(300));
    let Some(mut fx) = Fixture::postgres(&rt, options).await else {
        return;
    };
    let session = enhanced_async_session(&fx.db).await.unwrap();
    let start = rt.now();
    let err = session
        .execute(&query("SELECT pg_sleep(3)"))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    drop(session);
    common::eventually(&rt, "closed", Duration::from_secs(5), || async {
        fx.db.stats().closed_in_doubt == 1
    })
    .await;
    assert!(
        rt.now() - start < Duration::from_secs(2),
        "{:?}",
        rt.now() - start
    );
    assert_eq!(fx.db.stats().recycled, 0);
    // A new connection is opened for the next session.
    let next = enhanced_async_session(&fx.db).await.unwrap();
    next.execute(&query("SELECT 1")).await.unwrap();
    drop(next);
    fx.settle(&rt).await;
    fx.finish(&rt).await;
});
