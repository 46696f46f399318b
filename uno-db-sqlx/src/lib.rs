//! uno-db-sqlx: database sessions over sqlx 0.9 that stay clean under cancellation and timeouts,
//! and operation groups that run several operations in one transaction.
//!
//! **Status: not built yet.** This crate holds its place in the workspace (and carries uno's tour,
//! `examples/tour.rs`) until its own issue lands: `enhanced_async_session`, `SessionOperationGroup`
//! and their error type, on SQLite (the embedded default) and PostgreSQL, under every uno adapter.
//! See the README's feature table for what exists today.

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]
