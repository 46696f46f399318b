//! uno-db-sqlx: database sessions over sqlx 0.9 that stay clean under cancellation and timeouts,
//! and operation groups that run several operations in one transaction.
//!
//! - [`Database`]: a sqlx pool for SQLite (bundled, a file in WAL mode: the embedded default) or
//!   PostgreSQL, with uno's [`Runtime`](uno_core::Runtime) keeping every timeout.
//! - [`enhanced_async_session`] → [`Session`]: per-statement timeouts, and on every exit path —
//!   success, error, timeout, or the caller's future dropped at any await — the connection goes
//!   back to the pool clean, or is **closed** when its state is in doubt. PostgreSQL connections
//!   also get server-side backstops (`statement_timeout`, `idle_in_transaction_session_timeout`,
//!   `client_connection_check_interval`); SQLite statements are interrupted when abandoned.
//! - [`SessionOperationGroup`]: sessions plus [`run_in_transaction`]: a list of [`Operation`]s
//!   that all commit or none do, errors naming the failed operation's index, a `COMMIT` without
//!   reply reported as outcome unknown, optional retry of serialization failures and deadlocks
//!   ([`TransactionRetry`]) through uno-core's [`Retry`](uno_core::resilience::Retry) policy.
//! - [`DbError`]: one opaque error with `is_timeout()`, `is_cancelled()`,
//!   `is_outcome_unknown()`, `is_serialization_failure()`, `operation_index()`, and the sqlx
//!   cause as its `source()`.
//!
//! Statements are portable [`Query`]s (`$1`-style placeholders on both databases) returning
//! [`Row`]s of [`Value`]s. The crate works under tokio, smol and async-std: sqlx's runtime
//! features for all three are enabled.
//!
//! # Why not sqlx's own transactions
//!
//! sqlx 0.9.0 returns a dropped connection to the pool after a ping, and tracks transactions with
//! a depth counter that a cancelled `BEGIN` never increments (upstream #4385/#4393): a PostgreSQL
//! connection could go back to the pool inside a transaction. This crate sends `BEGIN`, `COMMIT`
//! and `ROLLBACK` itself, marks the connection "in doubt" before each statement is sent, and
//! closes (never returns) any connection still in doubt when it is released. A dropped query is
//! not cancelled on the server by sqlx, hence the server-side timeouts.
//!
//! # Examples
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("tour.db");
//! use std::time::Duration;
//! use uno_db_sqlx::{Database, DatabaseOptions, SessionOperationGroup, operation, query};
//!
//! uno_smol::run(|rt| async move {
//!     let options = DatabaseOptions::new().statement_timeout(Duration::from_secs(5));
//!     let db = Database::open_sqlite(&rt, &path, options).await?;
//!     let group = SessionOperationGroup::new(&db);
//!     let session = group.create_session().await?;
//!     session.execute(&query("CREATE TABLE events (name TEXT)")).await?;
//!
//!     // Both inserts commit together...
//!     let insert = |name: &'static str| {
//!         operation(move |tx| Box::pin(async move {
//!             tx.execute(&query("INSERT INTO events VALUES ($1)").bind(name)).await?;
//!             Ok(())
//!         }))
//!     };
//!     group.run_in_transaction(&session, vec![insert("a"), insert("b")]).await?;
//!
//!     // ...and a transaction dropped half-way (here: by a timeout while its second operation
//!     // waits) leaves nothing behind.
//!     let rt2 = rt.clone();
//!     let stall = operation(move |_tx| {
//!         let rt2 = rt2.clone();
//!         Box::pin(async move { rt2.sleep(Duration::from_secs(60)).await; Ok(()) })
//!     });
//!     let dropped = group.run_in_transaction(&session, vec![insert("c"), stall]);
//!     assert!(rt.timeout(Duration::from_millis(50), "", dropped).await.is_err());
//!
//!     let count = session.fetch_scalar(&query("SELECT COUNT(*) FROM events")).await?;
//!     assert_eq!(count.as_i64(), Some(2));
//!     group.close().await;
//!     db.close().await;
//!     Ok::<(), uno_db_sqlx::DbError>(())
//! })
//! .unwrap();
//! ```
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
mod options;
mod query;
mod session;
mod sql;
mod stats;
mod transaction;
mod tx;

#[doc(hidden)]
#[cfg(feature = "sqlite")]
pub mod tour;

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
