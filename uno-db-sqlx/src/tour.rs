//! The database section of uno's tour (`examples/tour.rs` calls [`tour_section`]).

use std::time::Duration;

use uno_core::Runtime;
use uno_core::sync::{AsyncEvent, CancellationToken, cancellable};

use crate::{
    Database, DatabaseOptions, DbError, SessionOperationGroup, TransactionOptions,
    TransactionRetry, operation, query,
};

/// Runs the tour's database section: on an embedded SQLite file by default, on PostgreSQL when
/// `url` is given. Shows a committed transfer, an operation error naming its index, a statement
/// timeout, and a cancelled transaction leaving nothing behind.
///
/// # Errors
///
/// Any [`DbError`] of the database underneath.
///
/// # Cancel safety
///
/// Dropping it may leave the tour's temporary SQLite file behind; the database itself stays clean.
pub async fn tour_section(rt: &Runtime, url: Option<&str>) -> Result<(), DbError> {
    let file = std::env::temp_dir().join(format!("uno-tour-{}.db", std::process::id()));
    let options = DatabaseOptions::new()
        .max_connections(3)
        .statement_timeout(Duration::from_millis(300))
        .application_name("uno-tour");
    let (db, table) = match url {
        Some(url) => (
            Database::connect(rt, url, options).await?,
            "uno_tour_accounts",
        ),
        None => {
            let _ = std::fs::remove_file(&file);
            (Database::open_sqlite(rt, &file, options).await?, "accounts")
        }
    };
    println!("  db: {:?} database, pool of 3", db.kind());
    let result = section(rt, &db, table).await;
    db.close().await;
    if url.is_none() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
    }
    result
}

async fn section(rt: &Runtime, db: &Database, table: &'static str) -> Result<(), DbError> {
    let group = SessionOperationGroup::with_options(
        db,
        TransactionOptions::new().retry(TransactionRetry::default()),
    );
    let session = group.create_session().await?;
    session
        .execute(&query(format!("DROP TABLE IF EXISTS {table}")))
        .await?;
    session
        .execute(&query(format!(
            "CREATE TABLE {table} (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)"
        )))
        .await?;
    session
        .execute(&query(format!(
            "INSERT INTO {table} VALUES (1, 100), (2, 0)"
        )))
        .await?;
    let transfer = |amount: i64| {
        vec![
            operation(move |tx| {
                Box::pin(async move {
                    tx.execute(
                        &query(format!(
                            "UPDATE {table} SET balance = balance - $1 WHERE id = 1"
                        ))
                        .bind(amount),
                    )
                    .await?;
                    Ok(())
                })
            }),
            operation(move |tx| {
                Box::pin(async move {
                    let left = tx
                        .fetch_scalar(&query(format!("SELECT balance FROM {table} WHERE id = 1")))
                        .await?;
                    if left.as_i64().unwrap_or(0) < 0 {
                        return Err(DbError::operation_failed("insufficient funds"));
                    }
                    tx.execute(
                        &query(format!(
                            "UPDATE {table} SET balance = balance + $1 WHERE id = 2"
                        ))
                        .bind(amount),
                    )
                    .await?;
                    Ok(())
                })
            }),
        ]
    };
    group.run_in_transaction(&session, transfer(30)).await?;
    println!(
        "  db: transfer of 30 committed -> balances {:?}",
        balances(&session, table).await?
    );

    let err = group
        .run_in_transaction(&session, transfer(500))
        .await
        .unwrap_err();
    println!(
        "  db: transfer of 500 -> {err}; balances still {:?}",
        balances(&session, table).await?
    );

    // A transaction dropped half-way: after its debit ran, before its credit.
    let debited = AsyncEvent::new();
    let stop = CancellationToken::new();
    let watcher = {
        let (debited, stop) = (debited.clone(), stop.clone());
        rt.spawn(async move {
            debited.wait().await;
            stop.cancel(); // as a caller that gives up would
        })
    };
    let half_done = vec![operation(move |tx| {
        let debited = debited.clone();
        Box::pin(async move {
            tx.execute(&query(format!(
                "UPDATE {table} SET balance = balance - 10 WHERE id = 1"
            )))
            .await?;
            debited.set();
            std::future::pending::<()>().await; // the credit never comes
            Ok(())
        })
    })];
    let outcome = cancellable(&stop, group.run_in_transaction(&session, half_done)).await;
    let _ = watcher.await;
    println!(
        "  db: transfer dropped after its debit ({}) -> balances {:?}: the debit was rolled back",
        if outcome.is_err() {
            "cancelled"
        } else {
            "finished"
        },
        balances(&session, table).await?,
    );

    let slow = match db.kind() {
        crate::DatabaseKind::Postgres => query("SELECT pg_sleep(5)"),
        _ => query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
             SELECT COUNT(*) FROM n",
        ),
    };
    let start = rt.now();
    let err = session.fetch_all(&slow).await.unwrap_err();
    println!(
        "  db: a slow query -> timeout after {:?} (is_timeout: {})",
        rt.now() - start,
        err.is_timeout()
    );
    let report = group.close().await;
    println!("  db: group closed -> {report}");
    Ok(())
}

async fn balances(session: &crate::Session, table: &'static str) -> Result<Vec<i64>, DbError> {
    let rows = session
        .fetch_all(&query(format!("SELECT balance FROM {table} ORDER BY id")))
        .await?;
    rows.iter().map(|r| r.try_i64(0)).collect()
}
