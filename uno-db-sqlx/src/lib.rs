//! uno-db-sqlx: the safe way to use sqlx 0.9 — sqlx's own queries inside database sessions and
//! transactions that stay clean under cancellation, timeouts and faults, on SQLite, PostgreSQL and
//! MySQL/MariaDB, under tokio, smol and async-std.
//!
//! # Examples
//!
//! A transaction is an async closure; inside it, sqlx's API runs on the transaction's own
//! connection (here `query_as` into a `FromRow` type) beside the crate's portable [`Query`]:
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("tour.db");
//! use std::time::Duration;
//! use sqlx::SqliteConnection;
//! use uno_db_sqlx::{Database, DatabaseOptions, DbError, enhanced_async_session, query};
//!
//! #[derive(sqlx::FromRow, Debug, PartialEq)]
//! struct Account {
//!     id: i64,
//!     balance: i64,
//! }
//!
//! uno_smol::run(|rt| async move {
//!     let options = DatabaseOptions::new().statement_timeout(Duration::from_secs(5));
//!     let db = Database::open_sqlite(&rt, &path, options).await?;
//!     let session = enhanced_async_session(&db).await?;
//!     session.execute(&query("CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT)")).await?;
//!     session.execute(&query("INSERT INTO accounts VALUES (1, 100), (2, 0)")).await?;
//!
//!     // Both updates commit together, or neither does.
//!     let accounts = session
//!         .transaction(async |tx| {
//!             tx.execute(&query("UPDATE accounts SET balance = balance - 30 WHERE id = 1")).await?;
//!             tx.execute(&query("UPDATE accounts SET balance = balance + 30 WHERE id = 2")).await?;
//!             tx.with_connection(async |c: &mut SqliteConnection| {
//!                 sqlx::query_as::<_, Account>("SELECT id, balance FROM accounts ORDER BY id")
//!                     .fetch_all(c)
//!                     .await
//!             })
//!             .await
//!         })
//!         .await?;
//!     assert_eq!(accounts[1], Account { id: 2, balance: 30 });
//!
//!     // A transaction dropped half-way (here: by a timeout while it waits) leaves nothing behind.
//!     let rt2 = rt.clone();
//!     let dropped = session.transaction(async |tx| {
//!         tx.execute(&query("UPDATE accounts SET balance = 0")).await?;
//!         rt2.sleep(Duration::from_secs(60)).await;
//!         Ok(())
//!     });
//!     assert!(rt.timeout(Duration::from_millis(50), "", dropped).await.is_err());
//!     let total = session.fetch_scalar(&query("SELECT SUM(balance) FROM accounts")).await?;
//!     assert_eq!(total.as_i64(), Some(100));
//!     session.close().await;
//!     db.close().await;
//!     Ok::<(), DbError>(())
//! })
//! .unwrap();
//! ```
//!
//! # What it gives
//!
//! - [`Database`]: a sqlx pool with uno's [`Runtime`](uno_core::Runtime) keeping every timeout.
//!   Opening one connects once and reports a refused connection, a failed login or a bad
//!   `init_sql` as itself.
//! - [`enhanced_async_session`] → [`Session`]: per-statement timeouts with server-side backstops
//!   (PostgreSQL `statement_timeout`, `idle_in_transaction_session_timeout`; MariaDB
//!   `max_statement_time`; SQLite statements interrupted when abandoned), and on every exit path —
//!   success, error, timeout, or the caller's future dropped at any await — the connection goes
//!   back to the pool clean. One whose state is in doubt is cleaned in the background (its
//!   statement ends, `ROLLBACK`, a check) and recycled, or closed if that fails or takes too long
//!   ([`DatabaseOptions::recycle_timeout`]): never returned inside a transaction.
//! - sqlx's own API: [`Session::with_connection`] and [`Tx::with_connection`] lend
//!   `&mut SqliteConnection`, `&mut PgConnection` or `&mut MySqlConnection` ([`DriverConnection`])
//!   for `Executor`, `query_as`, `FromRow` and the `query!` macros, each call marked in doubt and
//!   bounded by the statement timeout like one statement.
//! - Transactions as async closures ([`Session::transaction`], [`Session::transaction_with`],
//!   [`SessionOperationGroup::transaction`]): `AsyncFnMut`, run again on a serialization failure
//!   when [`TransactionOptions::retry`] says so (uno-core's [`Retry`](uno_core::resilience::Retry));
//!   a `COMMIT` without a reply is [`DbError::is_outcome_unknown`], never success or failure.
//! - Savepoints ([`Tx::savepoint`]) that nest, and roll back when they fail or are dropped.
//! - [`SessionOperationGroup`]: Uno's sessions-plus-operations API ([`run_in_transaction`] over a
//!   list of [`Operation`]s) and one place that releases every session.
//! - [`DbError`]: one opaque error with `is_timeout()`, `is_outcome_unknown()`,
//!   `is_serialization_failure()` (PostgreSQL 40001/40P01, SQLite busy, MySQL 1213/1205), …,
//!   [`code()`](DbError::code), and the database's own error as its `source()` (std's rule:
//!   the text says what failed, the source why, each once).
//!
//! The portable [`Query`] (`$1`-style placeholders on every database, bind count checked) returns
//! [`Row`]s of [`Value`]s for driver-neutral code.
//!
//! # Features
//!
//! Drivers and runtimes are features; enable what the application uses (a PostgreSQL-on-tokio
//! application compiles neither SQLite nor async-std):
//!
//! | feature | what it enables | what it costs | default |
//! |---|---|---|---|
//! | `sqlite` | SQLite, bundled (`Database::open_sqlite`, `sqlite:` URLs, `&mut SqliteConnection`) | builds SQLite's C source (a C compiler at build time, about 1 MB of code) | yes |
//! | `postgres` | PostgreSQL (`Database::connect_postgres`, `postgres:` URLs, `&mut PgConnection`) | sqlx's PostgreSQL driver (pure Rust) | |
//! | `mysql` | MySQL and MariaDB (`Database::connect_mysql`, `mysql:`/`mariadb:` URLs, `&mut MySqlConnection`) | sqlx's MySQL driver (pure Rust, with its RSA and digest crates) | |
//! | `runtime-tokio` | sqlx on tokio (inside a tokio runtime) | tokio's runtime crate | yes |
//! | `runtime-smol` | sqlx on smol's executor and async-io: smol, and async-std too | async-io and smol's executor crates | |
//! | `runtime-async-std` | sqlx on async-std's executor | async-std | |
//! | `metrics` | the [metrics](#metrics) below through the [`metrics`](https://docs.rs/metrics) facade, and uno-core's own (`uno-core/metrics`: the transaction retry policy's) | the `metrics` crate (no exporter: install one); per database, its handles registered once when it opens; per statement, two atomic adds | |
//! | `tracing` | the [`tracing` events](#tracing) below, and uno-core's (`uno-core/tracing`) | the `tracing` crate; with no subscriber interested, one cached check per event | |
//!
//! ```toml
//! uno-db-sqlx = { version = "0.1", default-features = false, features = ["postgres", "runtime-tokio"] }
//! ```
//!
//! sqlx picks the runtime per call: tokio inside a tokio runtime, otherwise the async-io one.
//! Built with `runtime-tokio` alone, using a database outside a tokio runtime is a config error
//! (sqlx itself would panic). At least one driver and one runtime must be enabled.
//!
//! # Names
//!
//! A [`Database`] has a name, given with [`DatabaseOptions::name`] (default `"database"`) and read
//! with [`Database::name`]. It is the `name` label of its metrics and the `name` field of its
//! events, and its errors carry it ([`DbError::name`]) and show it when it is not the default
//! (`database "billing": statement `SELECT 1` timed out after 300ms`), so two databases of one
//! application are told apart.
//!
//! # Metrics
//!
//! With the `metrics` feature, each [`Database`] reports through the
//! [`metrics`](https://docs.rs/metrics) facade, which knows no executor. Install a recorder
//! (Prometheus, StatsD, OpenTelemetry, ...) **before** opening the database: its handles are
//! registered once, when it opens (so a count costs an atomic add, never a registry lookup); a
//! database opened with no recorder installed reports nothing. Every metric carries the
//! database's `name` label; [`SessionOperationGroup`]s report into their database's.
//!
//! | metric | kind | labels | meaning |
//! |---|---|---|---|
//! | `uno_db_sessions_opened_total` | counter | `name` | sessions opened ([`enhanced_async_session`], [`SessionOperationGroup::create_session`]) |
//! | `uno_db_sessions_active` | gauge | `name` | sessions alive now (opened and not yet dropped) |
//! | `uno_db_statements_total` | counter | `name`, `kind` | statements sent: `kind` is `execute` or `fetch` ([`Query`]), `control` (`BEGIN`, `COMMIT`, `ROLLBACK`, savepoints) or `sqlx` (one lent [`with_connection`](Session::with_connection) call) |
//! | `uno_db_statement_duration_seconds` | histogram | `name`, `kind` | how long each statement that ended with a result (success or the database's error) took, on the runtime's clock |
//! | `uno_db_statement_timeouts_total` | counter | `name` | statements past the statement timeout ([`DbError::is_timeout`]) |
//! | `uno_db_transactions_total` | counter | `name`, `outcome` | transactions ended: `committed`, `rolled_back` (by `ROLLBACK`), `outcome_unknown` (a `COMMIT` without a reply, [`DbError::is_outcome_unknown`]) |
//! | `uno_db_transaction_retries_total` | counter | `name` | transactions run again after a serialization failure, deadlock or busy database |
//! | `uno_db_connections_in_doubt_total` | counter | `name`, `outcome` | connections whose state was in doubt: `recycled` (cleaned in the background and returned to the pool) or `closed` |
//!
//! The counters match [`Database::stats`] ([`DbStats`]), which needs no feature. A transaction
//! dropped mid-way is counted by how its connection ended (`connections_in_doubt_total`), not in
//! `transactions_total`; a statement dropped mid-way is sent but has no duration.
//!
//! # Tracing
//!
//! With the `tracing` feature, the crate emits [`tracing`](https://docs.rs/tracing) events with
//! the target `uno_db_sqlx` (filter with `uno_db_sqlx=debug`), each with the database's `name`
//! field. A statement's SQL is cut to its first 60 characters; bound values never appear (they
//! are not in the SQL, and the database's own error text, which may quote them, is not logged).
//!
//! | event (message) | level | fields | when |
//! |---|---|---|---|
//! | `statement` | DEBUG | `name`, `kind` (as the metric's), `sql` (cut; absent for `sqlx`), `duration`, `outcome` (`ok`, `error`, `timeout`, `cancelled`), `error` (when not `ok`: this crate's message, without its cause) | every statement that ends (not one whose future is dropped) |
//! | `transaction began` | DEBUG | `name`, `sql` (the `BEGIN` form) | `BEGIN` succeeded |
//! | `transaction committed` | DEBUG | `name` | `COMMIT` succeeded |
//! | `transaction rolled back` | DEBUG | `name` | `ROLLBACK` succeeded |
//! | `transaction outcome unknown` | WARN | `name`, `error` | a `COMMIT` timed out, was cancelled or lost its connection |
//! | `transaction retried` | DEBUG | `name`, `attempt` (the next one, from 2), `error` | a serialization failure is retried |
//! | `connection recycled` | DEBUG | `name` | a connection in doubt was cleaned and returned to the pool |
//! | `connection closed in doubt` | WARN | `name`, `reason` (`broken`, `recycling_off`, `cleaning_failed`, `cleaning_timed_out`, `runtime_gone`) | a connection in doubt was closed instead |
//!
//! Events are emitted on the thread that runs the work; recycling runs in a task on the
//! database's runtime.
//!
//! # sqlx's `query!` macros
//!
//! `query!` and `query_as!` check their SQL at build time against a live database named by
//! `DATABASE_URL`, or — with no server at build time — against the data `cargo sqlx prepare`
//! saves in `.sqlx/` (commit it; build with `SQLX_OFFLINE=true`). That is between the user's
//! crate and sqlx (enable sqlx's `macros` feature there); what the macros expand to runs inside
//! [`Tx::with_connection`] like any other sqlx query. This crate's tests and examples use
//! `query_as` with `FromRow` types, which need no database to build.
//!
//! # Why not sqlx's own transactions
//!
//! sqlx 0.9.0 returns a dropped connection to the pool after a ping, and tracks transactions with
//! a depth counter that a cancelled `BEGIN` never increments (upstream #4385/#4393): a PostgreSQL
//! connection could go back to the pool inside a transaction. This crate sends `BEGIN`, `COMMIT`,
//! `ROLLBACK` and `SAVEPOINT` itself, marks the connection "in doubt" before each statement (and
//! each lent call) is sent, and cleans or closes any connection still in doubt when it is
//! released. A dropped query is not cancelled on the server by sqlx, hence the server-side
//! timeouts. Leave transaction control to the crate: a sqlx `Transaction` begun on a lent
//! connection and not ended is detected, and the connection rolled back.
//!
//! [`run_in_transaction`]: SessionOperationGroup::run_in_transaction

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]
// With a driver feature off, the helpers only that driver uses are unused; the full build (every
// driver, as CI and the tests build it) keeps the lints.
#![cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code, unused_imports)
)]

mod connection;
mod database;
mod driver;
mod error;
mod executor;
mod group;
mod observe;
mod options;
mod query;
mod session;
mod session_state;
mod sql;
mod stats;
mod transaction;
mod tx;

pub use database::{Database, DatabaseKind};
pub use error::DbError;
pub use executor::DriverConnection;
pub use group::{GroupReport, SessionOperationGroup};
pub use options::DatabaseOptions;
pub use query::{Query, Row, Value, query};
pub use session::{Session, enhanced_async_session};
pub use stats::{DbStats, PoolStatus};
pub use transaction::{
    IsolationLevel, Operation, OperationFuture, TransactionOptions, TransactionRetry, operation,
};
pub use tx::Tx;

/// Re-exported so users can reach the drivers (`uno_db_sqlx::sqlx::PgPool`, …) at the version this
/// crate uses.
pub use sqlx;
