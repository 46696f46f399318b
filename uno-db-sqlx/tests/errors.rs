//! Errors follow std's rule: each error in a chain says its own part once. A message never
//! contains its cause's text (the old `connection refused: connection refused`), messages are
//! short lowercase phrases, and the database's own error is the `source()`. Real errors of every
//! database (SQLite always; PostgreSQL and MySQL when their URLs are set).

mod common;

use std::error::Error;
use std::time::Duration;

use common::{Fixture, server_url};
use uno_db_sqlx::{
    Database, DatabaseKind, DatabaseOptions, DbError, enhanced_async_session, query,
};

/// The messages of `err`'s chain, outermost first.
fn chain(err: &DbError) -> Vec<String> {
    let mut messages = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        messages.push(e.to_string());
        next = e.source();
    }
    messages
}

/// No message repeats the next one's text; the outermost is a short lowercase phrase.
fn assert_said_once(err: &DbError) {
    let messages = chain(err);
    for pair in messages.windows(2) {
        assert!(
            !pair[0].contains(&pair[1]),
            "{:?} repeats its cause {:?} (chain {messages:?})",
            pair[0],
            pair[1]
        );
    }
    let top = &messages[0];
    assert!(!top.ends_with('.'), "{top:?} ends with a period");
    let first = top
        .trim_start_matches(|c: char| !c.is_alphabetic())
        .chars()
        .next();
    assert!(
        first.is_some_and(|c| !c.is_uppercase()),
        "{top:?} does not start in lowercase"
    );
    assert!(top.len() < 120, "{top:?} is not concise");
}

fn block_on<F: std::future::Future>(f: impl FnOnce(uno_core::Runtime) -> F) -> F::Output {
    smol::block_on(f(uno_smol::runtime()))
}

#[test]
fn database_errors_say_each_thing_once_on_every_database() {
    block_on(|rt| async move {
        let mut tested = 0;
        for mut fx in Fixture::all(&rt, DatabaseOptions::new()).await {
            fx.create_table("t").await;
            let session = enhanced_async_session(&fx.db).await.unwrap();
            session
                .execute(&query("INSERT INTO t VALUES (1, 1)"))
                .await
                .unwrap();
            // A constraint violation: the database's own error is the source.
            let duplicate = session
                .execute(&query("INSERT INTO t VALUES (1, 2)"))
                .await
                .unwrap_err();
            assert!(duplicate.is_database_error(), "{duplicate:?}");
            assert!(duplicate.code().is_some(), "{duplicate:?}");
            let source = duplicate.source().expect("the database's error");
            assert!(
                source.is::<sqlx::sqlite::SqliteError>()
                    || source.is::<sqlx::postgres::PgDatabaseError>()
                    || source.is::<sqlx::mysql::MySqlDatabaseError>(),
                "{source:?}"
            );
            assert_said_once(&duplicate);
            // A syntax error, inside a transaction: the same chain, with the attempt count.
            let syntax = session
                .transaction(async |tx| tx.execute(&query("SELEC nothing")).await)
                .await
                .unwrap_err();
            assert!(syntax.is_database_error(), "{syntax:?}");
            assert_said_once(&syntax);
            // A connection type of another driver: a config error with no cause.
            let wrong = if fx.kind() == DatabaseKind::Sqlite {
                session
                    .with_connection(async |c: &mut sqlx::PgConnection| {
                        sqlx::query("SELECT 1").execute(c).await.map(drop)
                    })
                    .await
            } else {
                session
                    .with_connection(async |c: &mut sqlx::SqliteConnection| {
                        sqlx::query("SELECT 1").execute(c).await.map(drop)
                    })
                    .await
            };
            let wrong = wrong.unwrap_err();
            assert!(wrong.is_config(), "{wrong:?}");
            assert!(wrong.source().is_none());
            assert_said_once(&wrong);
            drop(session);
            fx.finish(&rt).await;
            tested += 1;
        }
        assert!(tested >= 1);
    });
}

#[test]
fn a_statement_timeout_names_the_statement_and_the_limit() {
    block_on(|rt| async move {
        let options = DatabaseOptions::new().statement_timeout(Duration::from_millis(100));
        for fx in Fixture::all(&rt, options).await {
            let session = enhanced_async_session(&fx.db).await.unwrap();
            let err = session.fetch_all(&fx.slow()).await.unwrap_err();
            assert!(err.is_timeout(), "{err:?}");
            assert!(err.source().is_none(), "{err:?}");
            let text = err.to_string();
            assert!(text.starts_with("statement `"), "{text}");
            assert!(text.ends_with("timed out after 100ms"), "{text}");
            assert_said_once(&err);
            drop(session);
            fx.finish(&rt).await;
        }
    });
}

#[test]
fn a_refused_connection_says_refused_once() {
    block_on(|rt| async move {
        // Nothing listens on port 1: each driver's connect is refused at once.
        for url in [
            "postgres://postgres@127.0.0.1:1/test",
            "mysql://root@127.0.0.1:1/test",
        ] {
            let options = DatabaseOptions::new().acquire_timeout(Duration::from_secs(5));
            let err = Database::connect(&rt, url, options).await.unwrap_err();
            assert!(err.is_connection_error(), "{err:?}");
            let messages = chain(&err);
            assert_eq!(
                messages[0], "connecting to the database failed",
                "{messages:?}"
            );
            let refused = messages
                .iter()
                .filter(|m| m.to_lowercase().contains("refused"))
                .count();
            assert_eq!(refused, 1, "{messages:?}");
            assert!(err.source().unwrap().is::<std::io::Error>(), "{err:?}");
            assert_said_once(&err);
        }
    });
}

#[test]
fn a_bad_init_sql_is_the_databases_error_once() {
    block_on(|rt| async move {
        let dir = tempfile::tempdir().unwrap();
        let options = DatabaseOptions::new()
            .init_sql("SELECT * FROM no_such_table_anywhere")
            .name("ledger");
        let mut errors = vec![
            Database::open_sqlite(&rt, dir.path().join("i.db"), options.clone())
                .await
                .unwrap_err(),
        ];
        for var in ["UNO_TEST_POSTGRES_URL", "UNO_TEST_MYSQL_URL"] {
            if let Some(url) = server_url(var) {
                errors.push(
                    Database::connect(&rt, &url, options.clone())
                        .await
                        .unwrap_err(),
                );
            }
        }
        for err in errors {
            assert_eq!(
                err.to_string(),
                "database \"ledger\": setting up a new connection failed"
            );
            assert_eq!(err.name(), Some("ledger"));
            assert!(
                err.source()
                    .unwrap()
                    .to_string()
                    .contains("no_such_table_anywhere")
            );
            assert_said_once(&err);
        }
    });
}

#[test]
fn config_errors_name_the_option_and_the_database() {
    block_on(|rt| async move {
        let dir = tempfile::tempdir().unwrap();
        let options = DatabaseOptions::new().max_connections(0).name("billing");
        let err = Database::open_sqlite(&rt, dir.path().join("c.db"), options)
            .await
            .unwrap_err();
        assert!(err.is_config());
        assert_eq!(
            err.to_string(),
            "database \"billing\": max_connections must be greater than zero"
        );
        assert_said_once(&err);
        let err = Database::connect(&rt, "oracle://x", DatabaseOptions::new())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "unsupported database URL scheme `oracle`");
        assert_eq!(err.name(), Some("database"));
        let empty = DatabaseOptions::new().name("");
        let err = Database::open_sqlite(&rt, dir.path().join("e.db"), empty)
            .await
            .unwrap_err();
        assert!(err.is_config(), "{err:?}");
    });
}

#[test]
fn errors_of_a_named_database_carry_its_name() {
    block_on(|rt| async move {
        let dir = tempfile::tempdir().unwrap();
        let options = DatabaseOptions::new().name("orders");
        let db = Database::open_sqlite(&rt, dir.path().join("n.db"), options)
            .await
            .unwrap();
        assert_eq!(db.name(), "orders");
        let session = enhanced_async_session(&db).await.unwrap();
        let err = session
            .execute(&query("SELECT * FROM missing"))
            .await
            .unwrap_err();
        assert_eq!(err.name(), Some("orders"));
        assert_eq!(
            err.to_string(),
            "database \"orders\": statement `SELECT * FROM missing` failed"
        );
        assert_said_once(&err);
        // An operation's own error leaving a transaction names the database too.
        let err = session
            .transaction(async |_tx| Err::<(), _>(DbError::operation_failed("insufficient funds")))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "database \"orders\": insufficient funds");
        // The default name is carried but not shown.
        let plain = Database::open_sqlite(&rt, dir.path().join("p.db"), DatabaseOptions::new())
            .await
            .unwrap();
        assert_eq!(plain.name(), "database");
        let s2 = enhanced_async_session(&plain).await.unwrap();
        let err = s2
            .execute(&query("SELECT * FROM missing"))
            .await
            .unwrap_err();
        assert_eq!(err.name(), Some("database"));
        assert_eq!(err.to_string(), "statement `SELECT * FROM missing` failed");
        session.close().await;
        s2.close().await;
        db.close().await;
        plain.close().await;
    });
}
