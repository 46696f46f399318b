//! Every public type is `Send`/`Sync` where it can be, and the futures of the async API are `Send`
//! (so they can be spawned), including those of async closures passed to transactions.

use uno_db_sqlx::{
    Database, DatabaseKind, DatabaseOptions, DbError, DbStats, GroupReport, IsolationLevel,
    Operation, PoolStatus, Query, Row, Session, SessionOperationGroup, TransactionOptions,
    TransactionRetry, Tx, Value, query,
};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>(_: &T) {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Database>();
    send_sync::<DatabaseOptions>();
    send_sync::<DatabaseKind>();
    send_sync::<DbError>();
    send_sync::<DbStats>();
    send_sync::<GroupReport>();
    send_sync::<IsolationLevel>();
    send_sync::<PoolStatus>();
    send_sync::<Query>();
    send_sync::<Row>();
    send_sync::<Session>();
    send_sync::<SessionOperationGroup>();
    send_sync::<TransactionOptions>();
    send_sync::<TransactionRetry>();
    send_sync::<Value>();
    send_sync::<Tx>();
    fn only_send<T: Send>() {}
    only_send::<Operation<u8>>();
}

#[test]
fn the_futures_are_send() {
    // Only compiled, never run: building the futures checks their auto traits.
    let _ = futures_are_send as fn(&Session, &SessionOperationGroup);
}

fn futures_are_send(session: &Session, group: &SessionOperationGroup) {
    send(&session.execute(&query("SELECT 1")));
    send(&session.transaction(async |tx| {
        tx.execute(&query("SELECT 1")).await?;
        tx.savepoint(async |tx| tx.fetch_scalar(&query("SELECT 1")).await)
            .await
    }));
    send(
        &session.transaction_with(TransactionOptions::new(), async |tx| {
            tx.with_connection(async |c: &mut sqlx::PgConnection| {
                sqlx::query("SELECT 1").execute(c).await
            })
            .await
        }),
    );
    send(
        &session.with_connection(async |c: &mut sqlx::SqliteConnection| {
            sqlx::query("SELECT 1").execute(c).await
        }),
    );
    send(&session.run_in_transaction(Vec::<Operation>::new(), TransactionOptions::new()));
    send(&group.transaction(session, async |_tx| Ok(())));
}
