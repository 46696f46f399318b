//! The database section of uno's tour (`main.rs` calls [`tour_section`]).

use std::error::Error as _;
use std::time::Duration;

use uno_core::Runtime;
use uno_core::sync::{AsyncEvent, CancellationToken, cancellable};

use uno_db_sqlx::{
    Database, DatabaseKind, DatabaseOptions, DbError, Session, SessionOperationGroup,
    TransactionOptions, TransactionRetry, Tx, query,
};

/// An account row read with sqlx's own `query_as` into a `FromRow` type.
#[derive(sqlx::FromRow, Debug)]
#[allow(dead_code)] // read through Debug
struct Account {
    id: i64,
    balance: i64,
}

/// Runs the tour's database section: on an embedded SQLite file by default, on PostgreSQL or
/// MySQL when `url` is given (and the driver's feature is on). Shows a committed transfer written
/// as an async closure, sqlx's `query_as` on the transaction's connection, a failed savepoint, an
/// error rolling back, a dropped transaction leaving nothing behind, and a statement timeout.
///
/// # Errors
///
/// Any [`DbError`] of the database underneath.
///
/// # Cancel safety
///
/// Dropping it may leave the tour's temporary SQLite file behind; the database itself stays clean.
pub(crate) async fn tour_section(rt: &Runtime, url: Option<&str>) -> Result<(), DbError> {
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

/// Moves `amount` from account 1 to account 2, refusing to overdraw: one re-runnable step.
async fn transfer(tx: &mut Tx, table: &str, amount: i64) -> Result<(), DbError> {
    let debit = format!("UPDATE {table} SET balance = balance - $1 WHERE id = 1");
    tx.execute(&query(debit).bind(amount)).await?;
    let left = tx
        .fetch_scalar(&query(format!("SELECT balance FROM {table} WHERE id = 1")))
        .await?;
    if left.as_i64().unwrap_or(0) < 0 {
        return Err(DbError::operation_failed("insufficient funds"));
    }
    let credit = format!("UPDATE {table} SET balance = balance + $1 WHERE id = 2");
    tx.execute(&query(credit).bind(amount)).await?;
    Ok(())
}

/// The accounts, read with sqlx's `query_as` on the transaction's own connection.
async fn accounts(tx: &mut Tx, table: &str) -> Result<Vec<Account>, DbError> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT id, balance FROM {table} ORDER BY id"));
    match tx.kind() {
        DatabaseKind::Postgres => {
            tx.with_connection(async |c: &mut sqlx::PgConnection| {
                sqlx::query_as::<_, Account>(sql).fetch_all(c).await
            })
            .await
        }
        DatabaseKind::MySql => {
            tx.with_connection(async |c: &mut sqlx::MySqlConnection| {
                sqlx::query_as::<_, Account>(sql).fetch_all(c).await
            })
            .await
        }
        _ => {
            tx.with_connection(async |c: &mut sqlx::SqliteConnection| {
                sqlx::query_as::<_, Account>(sql).fetch_all(c).await
            })
            .await
        }
    }
}

/// The error and its cause, as an error reporter prints them.
fn chain(err: &DbError) -> String {
    match err.source() {
        Some(cause) => format!("{err}: {cause}"),
        None => err.to_string(),
    }
}

async fn section(rt: &Runtime, db: &Database, table: &'static str) -> Result<(), DbError> {
    let group = SessionOperationGroup::with_options(
        db,
        TransactionOptions::new().retry(TransactionRetry::standard(rt)),
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

    // A transaction is an async closure (re-run on a serialization failure, the group's retry).
    let after = group
        .transaction(&session, async |tx| {
            transfer(tx, table, 30).await?;
            accounts(tx, table).await
        })
        .await?;
    println!("  db: transfer of 30 committed; sqlx query_as inside it read {after:?}");

    let err = group
        .transaction(&session, async |tx| transfer(tx, table, 500).await)
        .await
        .unwrap_err();
    println!(
        "  db: transfer of 500 -> {err}; balances still {:?}",
        balances(&session, table).await?
    );

    // A savepoint: its failure undoes its own work only; the transaction goes on and commits.
    group
        .transaction(&session, async |tx| {
            let failed = tx
                .savepoint(async |tx| {
                    transfer(tx, table, 5).await?;
                    Err::<(), _>(DbError::operation_failed("second thoughts"))
                })
                .await;
            println!(
                "  db: savepoint -> {}, its transfer of 5 undone",
                failed.unwrap_err()
            );
            transfer(tx, table, 10).await
        })
        .await?;
    println!(
        "  db: ...and the transaction's own transfer of 10 committed -> {:?}",
        balances(&session, table).await?
    );

    let err = session
        .execute(&query(format!("INSERT INTO {table} VALUES (1, 0)")))
        .await
        .unwrap_err();
    println!(
        "  db: a duplicate key -> code {:?}: {}",
        err.code().unwrap_or_default(),
        chain(&err)
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
    let half_done = group.transaction(&session, async |tx| {
        tx.execute(&query(format!(
            "UPDATE {table} SET balance = balance - 10 WHERE id = 1"
        )))
        .await?;
        debited.set();
        std::future::pending::<()>().await; // the credit never comes
        Ok(())
    });
    let outcome = cancellable(&stop, half_done).await;
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
        DatabaseKind::Postgres => query("SELECT pg_sleep(5)"),
        DatabaseKind::MySql => query("SELECT SLEEP(5)"),
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
    drop(session);
    let report = group.close().await;
    println!("  db: group closed -> {report}");
    Ok(())
}

async fn balances(session: &Session, table: &'static str) -> Result<Vec<i64>, DbError> {
    let rows = session
        .fetch_all(&query(format!("SELECT balance FROM {table} ORDER BY id")))
        .await?;
    rows.iter().map(|r| r.try_i64(0)).collect()
}
