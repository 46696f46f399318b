//! With the `tracing` feature, a database emits events (target `uno_db_sqlx`) for its statements
//! (with their kind, cut SQL, duration and outcome — never bound values), its transactions,
//! retries and in-doubt connections, each with the database's `name`. Checked on SQLite with a
//! capturing subscriber (and the outcome-unknown `COMMIT` on PostgreSQL when
//! `UNO_TEST_POSTGRES_URL` is set).
//!
//! The subscriber is the process's global one (this file has one test), because recycling runs in
//! a task on the runtime's threads.

#![cfg(feature = "tracing")]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::{ConnectOptions, Connection};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use uno_core::Runtime;
use uno_db_sqlx::{
    Database, DatabaseOptions, DbError, TransactionOptions, TransactionRetry,
    enhanced_async_session, query,
};

/// One event: its level, message and other fields (strings as they are, others as `Debug`).
#[derive(Clone, Debug)]
struct Seen {
    level: Level,
    message: String,
    fields: BTreeMap<String, String>,
}

impl Seen {
    fn field(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .unwrap_or_else(|| panic!("no field {name} in {self:?}"))
    }
}

#[derive(Clone, Default)]
struct Capture {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Capture {
    fn events(&self, message: &str) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|e| e.message == message)
            .cloned()
            .collect()
    }

    fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("uno_db_sqlx")
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        assert_eq!(event.metadata().target(), "uno_db_sqlx");
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        self.seen.lock().unwrap().push(Seen {
            level: *event.metadata().level(),
            message,
            fields,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

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
fn events_have_their_names_levels_and_fields() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(capture.clone()).unwrap();
    let rt = uno_smol::runtime();
    smol::block_on(async {
        sqlite_events(&rt, &capture).await;
        capture.clear();
        outcome_unknown_on_postgres(&rt, &capture).await;
    });
}

async fn sqlite_events(rt: &Runtime, capture: &Capture) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let options = DatabaseOptions::new().statement_timeout(Duration::from_millis(300));
    let db = Database::open_sqlite(rt, &path, options.clone().name("ledger"))
        .await
        .unwrap();
    let session = enhanced_async_session(&db).await.unwrap();
    session
        .execute(&query("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT)"))
        .await
        .unwrap();

    // A statement: DEBUG, its kind, SQL, duration and outcome; bound values never appear.
    let secret = 4_242_424_242_i64;
    session
        .execute(&query("INSERT INTO t VALUES (1, $1)").bind(secret))
        .await
        .unwrap();
    let statements = capture.events("statement");
    let insert = statements.last().unwrap();
    assert_eq!(insert.level, Level::DEBUG);
    assert_eq!(insert.field("name"), "ledger");
    assert_eq!(insert.field("kind"), "execute");
    assert_eq!(insert.field("sql"), "INSERT INTO t VALUES (1, $1)");
    assert_eq!(insert.field("outcome"), "ok");
    assert!(insert.fields.contains_key("duration"), "{insert:?}");
    assert!(!insert.fields.contains_key("error"), "{insert:?}");

    // A long statement's SQL is cut; a failed one carries its error (without the cause's text).
    let long = format!("SELECT {} FROM missing", "1 + ".repeat(40) + "1");
    session.fetch_all(&query(long)).await.unwrap_err();
    let failed = capture.events("statement").pop().unwrap();
    assert_eq!(failed.field("kind"), "fetch");
    assert_eq!(failed.field("outcome"), "error");
    assert!(failed.field("sql").ends_with('…'), "{failed:?}");
    assert_eq!(failed.field("sql").chars().count(), 61, "{failed:?}");
    assert!(failed.field("error").ends_with("failed"), "{failed:?}");
    assert!(
        !failed.field("error").contains("no such table"),
        "{failed:?}"
    );

    // Transactions: began (with its BEGIN), committed; rolled back.
    capture.clear();
    session
        .transaction(async |tx| {
            tx.execute(&query("UPDATE t SET v = v - 1")).await?;
            Ok(())
        })
        .await
        .unwrap();
    session
        .transaction(async |_tx| Err::<(), _>(DbError::operation_failed("no")))
        .await
        .unwrap_err();
    let began = capture.events("transaction began");
    assert_eq!(began.len(), 2);
    assert_eq!(began[0].level, Level::DEBUG);
    assert_eq!(began[0].field("sql"), "BEGIN IMMEDIATE");
    assert_eq!(began[0].field("name"), "ledger");
    let committed = capture.events("transaction committed");
    assert_eq!(committed.len(), 1);
    assert_eq!(committed[0].level, Level::DEBUG);
    let rolled_back = capture.events("transaction rolled back");
    assert_eq!(rolled_back.len(), 1);
    assert_eq!(rolled_back[0].level, Level::DEBUG);
    let control: Vec<_> = capture
        .events("statement")
        .into_iter()
        .filter(|e| e.field("kind") == "control")
        .map(|e| e.field("sql").to_owned())
        .collect();
    assert_eq!(
        control,
        ["BEGIN IMMEDIATE", "COMMIT", "BEGIN IMMEDIATE", "ROLLBACK"]
    );
    // No event anywhere shows the bound value.
    for e in capture.seen.lock().unwrap().iter() {
        assert!(
            e.fields.values().all(|v| !v.contains(&secret.to_string())),
            "{e:?}"
        );
    }

    // A retry: DEBUG, with the next attempt's number and the error that caused it.
    capture.clear();
    let runs = AtomicUsize::new(0);
    let other = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
    let retry = TransactionRetry::exponential(rt, 3, Duration::ZERO, Duration::ZERO).unwrap();
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
    let retried = capture.events("transaction retried");
    assert_eq!(retried.len(), 1, "{retried:?}");
    assert_eq!(retried[0].level, Level::DEBUG);
    assert_eq!(retried[0].field("name"), "ledger");
    assert_eq!(retried[0].field("attempt"), "2");
    assert_eq!(
        retried[0].field("error"),
        "statement `UPDATE t SET v = v * 2` failed"
    );

    // sqlx's own API: kind `sqlx`, no SQL.
    capture.clear();
    session
        .with_connection(async |c: &mut sqlx::SqliteConnection| {
            sqlx::query("SELECT 1").execute(c).await.map(drop)
        })
        .await
        .unwrap();
    let lent = capture.events("statement").pop().unwrap();
    assert_eq!(lent.field("kind"), "sqlx");
    assert!(!lent.fields.contains_key("sql"), "{lent:?}");

    // A timeout: the statement's outcome, then the connection recycled in the background.
    capture.clear();
    session.fetch_all(&slow()).await.unwrap_err();
    let timed_out = capture.events("statement").pop().unwrap();
    assert_eq!(timed_out.field("outcome"), "timeout");
    assert_eq!(
        timed_out.field("error"),
        format!("statement `{}…` timed out after 300ms", &slow().sql()[..60])
    );
    until(rt, "recycled", || {
        !capture.events("connection recycled").is_empty()
    })
    .await;
    let recycled = capture.events("connection recycled");
    assert_eq!(recycled[0].level, Level::DEBUG);
    assert_eq!(recycled[0].field("name"), "ledger");
    drop(session);
    db.close().await;

    // Closed in doubt: WARN, with the reason.
    let scratch = options.name("scratch").recycle_timeout(Duration::ZERO);
    let db = Database::open_sqlite(rt, dir.path().join("s.db"), scratch)
        .await
        .unwrap();
    let session = enhanced_async_session(&db).await.unwrap();
    session.fetch_all(&slow()).await.unwrap_err();
    until(rt, "closed", || {
        !capture.events("connection closed in doubt").is_empty()
    })
    .await;
    let closed = capture.events("connection closed in doubt");
    assert_eq!(closed[0].level, Level::WARN);
    assert_eq!(closed[0].field("name"), "scratch");
    assert_eq!(closed[0].field("reason"), "recycling_off");
    drop(session);
    db.close().await;
}

/// A `COMMIT` slowed by a deferred trigger past the statement timeout: WARN, with the error.
async fn outcome_unknown_on_postgres(rt: &Runtime, capture: &Capture) {
    let options = DatabaseOptions::new()
        .statement_timeout(Duration::from_millis(300))
        .name("orders");
    let Some(mut fx) = common::Fixture::postgres(rt, options).await else {
        return;
    };
    fx.create_table("t").await;
    let session = enhanced_async_session(&fx.db).await.unwrap();
    session
        .execute(&query(
            "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$",
        ))
        .await
        .unwrap();
    session
        .execute(&query(
            "CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON t DEFERRABLE INITIALLY DEFERRED \
             FOR EACH ROW EXECUTE FUNCTION slow_commit()",
        ))
        .await
        .unwrap();
    let err = session
        .transaction(async |tx| {
            tx.execute(&query("INSERT INTO t VALUES (1, 1)")).await?;
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err:?}");
    let unknown = capture.events("transaction outcome unknown");
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert_eq!(unknown[0].level, Level::WARN);
    assert_eq!(unknown[0].field("name"), "orders");
    assert_eq!(
        unknown[0].field("error"),
        "`COMMIT` timed out after 300ms; its outcome is unknown"
    );
    drop(session);
    fx.settle(rt).await;
    fx.finish(rt).await;
}
