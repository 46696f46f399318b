//! The checked-out connection and the bookkeeping that keeps it clean on every exit path.
//!
//! Invariant: a [`Conn`] whose state is known and clean (no statement in flight, no transaction
//! open, not broken) goes back to the pool when dropped; any other is handed to a [`Recycler`],
//! which cleans it in the background (the abandoned statement ends, `ROLLBACK`, a check) and
//! returns it, or closes it when cleaning fails, takes too long or cannot be trusted — so no
//! connection ever goes back to the pool inside a transaction. sqlx 0.9.0 cannot give that guarantee itself
//! (a cancelled `BEGIN` can return a PostgreSQL connection inside a transaction, upstream
//! #4385/#4393): this crate sends `BEGIN`/`COMMIT`/`ROLLBACK` itself and marks the connection in
//! doubt *before* each statement is sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::Executor;
use uno_core::Runtime;
use uno_core::sync::{CancellationToken, cancellable};

use crate::database::Database;
use crate::driver::{RawConn, check_runtime};
use crate::error::{DbError, Kind};
use crate::executor::DriverConnection;
use crate::observe::{Stat, StatementKind, event};
use crate::query::{Query, Row, column_names};
use crate::stats::Counters;

/// How often (in SQLite virtual-machine steps) the interrupt flag is checked.
#[cfg(feature = "sqlite")]
const SQLITE_PROGRESS_STEPS: i32 = 1000;

/// What a session's statements share: the clock, the limit, the cancellation, the counters.
pub(crate) struct Ctx {
    pub(crate) rt: Runtime,
    pub(crate) db: Database,
    pub(crate) statement_timeout: Duration,
    pub(crate) token: CancellationToken,
    pub(crate) counters: Vec<Arc<Counters>>,
}

impl Ctx {
    /// Counts `stat` in the database's (and the group's) stats and in its metric.
    pub(crate) fn record(&self, stat: Stat) {
        self.db.shared.observer.record(stat, &self.counters);
    }

    /// The database's name, for errors and events.
    pub(crate) fn name(&self) -> &Arc<str> {
        self.db.shared.observer.name()
    }

    /// `e`, naming this database.
    pub(crate) fn named(&self, e: DbError) -> DbError {
        e.in_database(self.name())
    }
}

/// A statement to run, and what comes back.
#[derive(Clone, Copy)]
pub(crate) enum Stmt<'q> {
    Execute(&'q Query),
    FetchAll(&'q Query),
    FetchOptional(&'q Query),
    Control(&'q str),
}

impl Stmt<'_> {
    fn kind(&self) -> StatementKind {
        match self {
            Stmt::Execute(_) => StatementKind::Execute,
            Stmt::FetchAll(_) | Stmt::FetchOptional(_) => StatementKind::Fetch,
            Stmt::Control(_) => StatementKind::Control,
        }
    }

    fn sql(&self) -> &str {
        match self {
            Stmt::Execute(q) | Stmt::FetchAll(q) | Stmt::FetchOptional(q) => q.sql(),
            Stmt::Control(sql) => sql,
        }
    }
}

pub(crate) enum Out {
    Affected(u64),
    Rows(Vec<Row>),
    Row(Option<Row>),
}

/// A connection checked out of the pool by a session, with its state.
pub(crate) struct Conn {
    raw: Option<RawConn>,
    ctx: Arc<Ctx>,
    /// A statement was sent and has not completed: the connection's state is unknown.
    in_flight: bool,
    /// `BEGIN` may have been sent and no `COMMIT`/`ROLLBACK` has completed.
    in_tx: bool,
    /// The connection reported an I/O or protocol error.
    broken: bool,
    /// Savepoints open in the transaction (their depth).
    savepoints: usize,
    /// The depth of the outermost savepoint whose future was dropped before it ended (0: none).
    abandoned: Arc<AtomicUsize>,
    /// Set when the client gives up on a statement: SQLite's progress handler then interrupts it,
    /// so the worker thread (and the write lock) is freed instead of running on unobserved.
    interrupt: Arc<AtomicBool>,
}

impl Conn {
    /// Checks a connection out of the pool, within the acquire timeout (on uno's timer).
    pub(crate) async fn acquire(ctx: &Arc<Ctx>) -> Result<Conn, DbError> {
        Self::acquire_unnamed(ctx).await.map_err(|e| ctx.named(e))
    }

    async fn acquire_unnamed(ctx: &Arc<Ctx>) -> Result<Conn, DbError> {
        let options = ctx.db.options();
        let limit = options.acquire_timeout;
        check_runtime()?;
        let pool = &ctx.db.shared.pool;
        let acquire = pool.acquire();
        let exhausted = || {
            DbError::new(
                Kind::AcquireTimeout,
                format!(
                    "no connection became free within {limit:?} (all {} in use)",
                    options.max_connections
                ),
            )
        };
        // While the pool waits to open a connection (not for a busy one to come back), find out
        // in the second half of the wait why it cannot: sqlx retries a refused connection or a
        // failed set-up silently until its timeout.
        let cause: std::sync::Mutex<Option<DbError>> = std::sync::Mutex::new(None);
        let diagnose = async {
            ctx.rt.sleep(limit / 2).await;
            if ctx.db.pool_status().size < options.max_connections
                && let Err(e) = ctx.db.probe().await
            {
                *cause.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
            }
            std::future::pending().await
        };
        let waited = futures_lite::future::or(acquire, diagnose);
        let timed_out = || {
            let cause = cause.lock().unwrap_or_else(|e| e.into_inner()).take();
            cause.unwrap_or_else(exhausted)
        };
        let raw = match cancellable(&ctx.token, ctx.rt.timeout(limit, "", waited)).await {
            Err(_) => return Err(DbError::cancelled("acquiring a connection")),
            Ok(Err(_)) => return Err(timed_out()),
            Ok(Ok(Err(sqlx::Error::PoolTimedOut))) => return Err(timed_out()),
            Ok(Ok(Err(e))) => return Err(DbError::from_sqlx("acquiring a connection", e)),
            Ok(Ok(Ok(raw))) => raw,
        };
        #[cfg_attr(not(feature = "sqlite"), allow(unused_mut))]
        let mut conn = Conn {
            raw: Some(raw),
            ctx: ctx.clone(),
            in_flight: false,
            in_tx: false,
            broken: false,
            savepoints: 0,
            abandoned: Arc::new(AtomicUsize::new(0)),
            interrupt: Arc::new(AtomicBool::new(false)),
        };
        #[cfg(feature = "sqlite")]
        if let Some(RawConn::Sqlite(c)) = &mut conn.raw {
            // Dropped mid-way, the connection is closed (in flight), never returned half set up.
            conn.in_flight = true;
            let flag = conn.interrupt.clone();
            let mut handle = c
                .lock_handle()
                .await
                .map_err(|e| DbError::from_sqlx("preparing the connection", e))?;
            handle
                .set_progress_handler(SQLITE_PROGRESS_STEPS, move || !flag.load(Ordering::Relaxed));
            drop(handle);
            conn.in_flight = false;
        }
        Ok(conn)
    }

    /// The state is unknown: the connection must be cleaned (or closed) before reuse.
    pub(crate) fn is_in_doubt(&self) -> bool {
        self.in_flight || self.broken || self.raw.is_none()
    }

    pub(crate) fn in_transaction(&self) -> bool {
        self.in_tx
    }

    pub(crate) fn ctx(&self) -> &Arc<Ctx> {
        &self.ctx
    }

    /// Runs one statement under the statement timeout and, if `respect_token`, the session's
    /// token — after rolling back to a savepoint whose future was dropped, if any.
    pub(crate) async fn run(
        &mut self,
        stmt: Stmt<'_>,
        respect_token: bool,
    ) -> Result<Out, DbError> {
        self.unwind_abandoned_savepoint().await?;
        self.run_one(stmt, respect_token).await
    }

    /// A savepoint whose future was dropped before it ended is rolled back (and released) before
    /// anything else runs in the transaction: its work is undone, as if it had failed.
    async fn unwind_abandoned_savepoint(&mut self) -> Result<(), DbError> {
        let depth = self.abandoned.swap(0, Ordering::AcqRel);
        if depth == 0 || depth > self.savepoints {
            return Ok(());
        }
        self.rollback_to_savepoint(depth).await
    }

    /// `ROLLBACK TO SAVEPOINT` and `RELEASE SAVEPOINT` for the savepoint at `depth` (1-based);
    /// afterwards the transaction is at `depth - 1`.
    pub(crate) async fn rollback_to_savepoint(&mut self, depth: usize) -> Result<(), DbError> {
        let name = savepoint_name(depth);
        self.run_one(
            Stmt::Control(&format!("ROLLBACK TO SAVEPOINT {name}")),
            true,
        )
        .await?;
        self.run_one(Stmt::Control(&format!("RELEASE SAVEPOINT {name}")), true)
            .await?;
        self.savepoints = depth - 1;
        Ok(())
    }

    /// Opens a savepoint one level deeper than the current one, and returns its depth.
    pub(crate) async fn savepoint(&mut self) -> Result<usize, DbError> {
        let depth = self.savepoints + 1;
        let sql = format!("SAVEPOINT {}", savepoint_name(depth));
        self.run(Stmt::Control(&sql), true).await?;
        self.savepoints = depth;
        Ok(depth)
    }

    /// Releases the savepoint at `depth`, keeping its work in the transaction.
    pub(crate) async fn release_savepoint(&mut self, depth: usize) -> Result<(), DbError> {
        let sql = format!("RELEASE SAVEPOINT {}", savepoint_name(depth));
        self.run(Stmt::Control(&sql), true).await?;
        self.savepoints = depth - 1;
        Ok(())
    }

    /// Where a dropped savepoint future records its depth (see [`SavepointGuard`]).
    pub(crate) fn abandoned_savepoints(&self) -> &Arc<AtomicUsize> {
        &self.abandoned
    }

    fn doubt_error(what: &str) -> DbError {
        DbError::new(
            Kind::Connection,
            format!("{what} was not run: the connection is in doubt"),
        )
    }

    async fn run_one(&mut self, stmt: Stmt<'_>, respect_token: bool) -> Result<Out, DbError> {
        let result = self.run_unnamed(stmt, respect_token).await;
        result.map_err(|e| self.ctx.named(e))
    }

    async fn run_unnamed(&mut self, stmt: Stmt<'_>, respect_token: bool) -> Result<Out, DbError> {
        let what = match &stmt {
            Stmt::Execute(q) | Stmt::FetchAll(q) | Stmt::FetchOptional(q) => q.describe(),
            Stmt::Control(sql) => format!("`{sql}`"),
        };
        if self.is_in_doubt() {
            return Err(Self::doubt_error(&what));
        }
        let Some(raw) = self.raw.as_mut() else {
            unreachable!("checked by is_in_doubt")
        };
        // Marked before the first poll: from here until completion the state is in doubt.
        self.in_flight = true;
        let ctx = &self.ctx;
        let limit = ctx.statement_timeout;
        let never = CancellationToken::new();
        let token = if respect_token { &ctx.token } else { &never };
        let is_begin = matches!(stmt, Stmt::Control(sql) if sql.starts_with("BEGIN"));
        // SQLite waits for a lock in short slices (see `DatabaseOptions::busy_slice`); the
        // statement is tried again until the busy timeout is spent. Only where a retry can
        // succeed: outside a transaction, or its BEGIN.
        let busy_wait =
            (is_sqlite(raw) && (is_begin || !self.in_tx)).then(|| ctx.db.options().busy_timeout);
        let rt = &ctx.rt;
        let observer = &ctx.db.shared.observer;
        let kind = stmt.kind();
        observer.statement_sent(kind);
        let sent = rt.now();
        let work = async move {
            let start = rt.now();
            loop {
                match execute(raw, stmt).await {
                    Err(e)
                        if busy_wait.is_some_and(|limit| rt.now() - start < limit)
                            && e.is_sqlite_busy() =>
                    {
                        rt.sleep(Duration::from_millis(1)).await;
                    }
                    other => return other,
                }
            }
        };
        let outcome = cancellable(token, ctx.rt.timeout(limit, "", work)).await;
        let elapsed = ctx.rt.now() - sent;
        let result = match outcome {
            Ok(Ok(result)) => {
                self.in_flight = false;
                observer.statement_done(kind, elapsed);
                if let Err(e) = &result
                    && e.kind() == Kind::Connection
                {
                    self.broken = true;
                }
                result
            }
            Ok(Err(_elapsed)) => {
                self.interrupt.store(true, Ordering::Relaxed);
                ctx.record(Stat::Timeout);
                Err(DbError::timeout(&what, limit))
            }
            Err(_cancelled) => {
                self.interrupt.store(true, Ordering::Relaxed);
                Err(DbError::cancelled(&what))
            }
        };
        statement_event(ctx, kind, Some(stmt.sql()), elapsed, &result);
        result
    }

    /// Lends the driver's connection to `f` for sqlx's own API, under the same rules as one
    /// statement: marked in doubt for the whole call, bounded by the statement timeout and
    /// (if `respect_token`) the session's cancellation.
    pub(crate) async fn lend<C, F, R, E>(&mut self, f: F) -> Result<R, DbError>
    where
        C: DriverConnection,
        F: AsyncFnOnce(&mut C) -> Result<R, E>,
        DbError: From<E>,
    {
        let result = self.lend_unnamed(f).await;
        result.map_err(|e| self.ctx.named(e))
    }

    async fn lend_unnamed<C, F, R, E>(&mut self, f: F) -> Result<R, DbError>
    where
        C: DriverConnection,
        F: AsyncFnOnce(&mut C) -> Result<R, E>,
        DbError: From<E>,
    {
        self.unwind_abandoned_savepoint().await?;
        let what = format!("the sqlx work lent a `{}`", C::NAME);
        if self.is_in_doubt() {
            return Err(Self::doubt_error(&what));
        }
        let Some(raw) = self.raw.as_mut() else {
            unreachable!("checked by is_in_doubt")
        };
        let kind = raw.kind();
        let Some(conn) = C::from_raw(raw) else {
            return Err(DbError::config(format!(
                "{what} cannot run on a {} database",
                kind.as_str()
            )));
        };
        self.in_flight = true;
        let ctx = &self.ctx;
        let limit = ctx.statement_timeout;
        let observer = &ctx.db.shared.observer;
        observer.statement_sent(StatementKind::Sqlx);
        let sent = ctx.rt.now();
        let outcome = cancellable(&ctx.token, ctx.rt.timeout(limit, "", f(&mut *conn))).await;
        let elapsed = ctx.rt.now() - sent;
        let result = match outcome {
            Ok(Ok(result)) => {
                observer.statement_done(StatementKind::Sqlx, elapsed);
                // A sqlx `Transaction` begun on the lent connection and not ended leaves it in a
                // transaction this crate did not open: its state is in doubt (rolled back when
                // it is released, and the crate's own transaction cannot go on).
                if sqlx::Connection::is_in_transaction(conn) {
                    return Err(DbError::new(
                        Kind::Connection,
                        format!("{what} left a sqlx transaction open"),
                    ));
                }
                self.in_flight = false;
                result.map_err(|e| {
                    let e = DbError::from(e);
                    if e.kind() == Kind::Connection {
                        self.broken = true;
                    }
                    e
                })
            }
            Ok(Err(_elapsed)) => {
                self.interrupt.store(true, Ordering::Relaxed);
                ctx.record(Stat::Timeout);
                Err(DbError::timeout(&what, limit))
            }
            Err(_cancelled) => {
                self.interrupt.store(true, Ordering::Relaxed);
                Err(DbError::cancelled(&what))
            }
        };
        statement_event(ctx, StatementKind::Sqlx, None, elapsed, &result);
        result
    }

    /// Sends `BEGIN` (the given form). The connection counts as inside a transaction from before
    /// the statement is sent, so a cancelled `BEGIN` can never leak an open transaction.
    pub(crate) async fn begin(&mut self, sql: &'static str) -> Result<(), DbError> {
        self.in_tx = true;
        self.savepoints = 0;
        self.abandoned.store(0, Ordering::Relaxed);
        match self.run(Stmt::Control(sql), true).await {
            Ok(_) => {
                event!(debug, name = %self.ctx.name(), sql, "transaction began");
                Ok(())
            }
            Err(e) => {
                if e.kind() == Kind::Database {
                    // The server rejected BEGIN itself (SQLite busy): no transaction was opened.
                    self.in_tx = false;
                }
                Err(e)
            }
        }
    }

    /// Sends `COMMIT`. A commit whose reply never arrived is "outcome unknown".
    pub(crate) async fn commit(&mut self) -> Result<(), DbError> {
        match self.run(Stmt::Control("COMMIT"), true).await {
            Ok(_) => {
                self.in_tx = false;
                self.ctx.record(Stat::Committed);
                event!(debug, name = %self.ctx.name(), "transaction committed");
                Ok(())
            }
            // The server refused COMMIT: not committed, and the transaction is rolled back next.
            Err(e) if e.kind() == Kind::Database => Err(e),
            Err(e) => {
                self.ctx.record(Stat::OutcomeUnknown);
                let e = e.into_outcome_unknown();
                event!(warn, name = %self.ctx.name(), error = %e.without_name(), "transaction outcome unknown");
                Err(e)
            }
        }
    }

    /// Rolls back an open transaction, shielded from the session's cancellation (bounded by the
    /// statement timeout). On failure the connection is marked broken, so it is closed.
    pub(crate) async fn rollback(&mut self) {
        if !self.in_tx || self.is_in_doubt() {
            return;
        }
        match self.run_one(Stmt::Control("ROLLBACK"), false).await {
            Ok(_) => {
                self.in_tx = false;
                self.ctx.record(Stat::RolledBack);
                event!(debug, name = %self.ctx.name(), "transaction rolled back");
            }
            Err(_) => self.broken = true,
        }
    }

    /// Releases the connection: rolled back if a transaction is open, returned to the pool when
    /// clean, handed to a [`Recycler`] otherwise (by `Drop`).
    ///
    /// Cancel safety: dropped during the rollback, the connection is recycled or closed instead.
    pub(crate) async fn release(mut self) {
        self.rollback().await;
        if self.is_in_doubt() || self.in_tx {
            return; // Drop closes it
        }
        // Returned here, not by the PoolConnection's drop (which spawns a task for it), so the
        // connection is idle in the pool when the caller's `close().await` returns. Dropped
        // half-way, sqlx's future closes it instead.
        if let Some(raw) = self.raw.take() {
            raw.return_to_pool().await;
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(raw) = self.raw.take() else {
            return;
        };
        if !(self.in_flight || self.in_tx || self.broken) {
            return; // the PoolConnection's own drop returns it to the pool
        }
        // Whatever still runs on it is abandoned: SQLite's progress handler interrupts it.
        self.interrupt.store(true, Ordering::Relaxed);
        let limit = self.ctx.db.options().recycle_timeout;
        let recycle = !(self.broken || limit.is_zero());
        let reason = if self.broken {
            "broken"
        } else if limit.is_zero() {
            "recycling_off"
        } else {
            "cleaning_failed"
        };
        let recycler = Recycler {
            reason,
            raw: Some(raw),
            interrupt: self.interrupt.clone(),
            ctx: self.ctx.clone(),
        };
        // Even a close is done in a task: the socket is shut without a goodbye (the protocol
        // state is unknown), which needs an await. If the runtime is gone, dropping the task
        // closes the connection all the same.
        self.ctx
            .rt
            .spawn(recycler.run(recycle.then_some(limit)))
            .detach();
    }
}

/// Cleans a connection whose state is in doubt, in the background, and returns it to the pool;
/// closes it if that fails or takes longer than the recycle timeout. Dropped before it is done
/// (the runtime shutting down), it closes the connection: it never returns one uncleaned.
struct Recycler {
    /// Why it is closed if it is: `broken`, `recycling_off`, then `cleaning_failed` (or
    /// `cleaning_timed_out`, `runtime_gone`).
    reason: &'static str,
    raw: Option<RawConn>,
    interrupt: Arc<AtomicBool>,
    ctx: Arc<Ctx>,
}

impl Recycler {
    /// Cleans within `limit`, or (`None`) closes at once.
    async fn run(mut self, limit: Option<Duration>) {
        let Some(mut raw) = self.raw.take() else {
            return;
        };
        let cleaned = match limit {
            Some(limit) => {
                let clean = clean(&mut raw, &self.interrupt);
                match self.ctx.rt.timeout(limit, "", clean).await {
                    Ok(Ok(())) => true,
                    Ok(Err(_)) => false,
                    Err(_) => {
                        self.reason = "cleaning_timed_out";
                        false
                    }
                }
            }
            None => false,
        };
        if cleaned {
            self.ctx.record(Stat::Recycled);
            event!(debug, name = %self.ctx.name(), "connection recycled");
            raw.return_to_pool().await;
        } else {
            self.closed_in_doubt(self.reason);
            raw.close_hard().await;
        }
    }
}

impl Recycler {
    fn closed_in_doubt(&self, reason: &'static str) {
        self.ctx.record(Stat::ClosedInDoubt);
        let _ = reason;
        event!(warn, name = %self.ctx.name(), reason, "connection closed in doubt");
    }
}

impl Drop for Recycler {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            self.closed_in_doubt("runtime_gone");
            raw.drop_hard();
        }
    }
}

/// The `statement` event (DEBUG): the statement's kind, its SQL cut to a few dozen characters
/// (never its bound values), how long it took and how it ended.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
fn statement_event<T>(
    ctx: &Ctx,
    kind: StatementKind,
    sql: Option<&str>,
    elapsed: Duration,
    result: &Result<T, DbError>,
) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) if e.kind() == Kind::Timeout => "timeout",
        Err(e) if e.kind() == Kind::Cancelled => "cancelled",
        Err(_) => "error",
    };
    let kind = kind.as_str();
    match (sql, result) {
        (Some(sql), Ok(_)) => event!(
            debug, name = %ctx.name(), kind, sql = %crate::observe::short_sql(sql), duration = ?elapsed, outcome,
            "statement"
        ),
        (Some(sql), Err(e)) => event!(
            debug, name = %ctx.name(), kind, sql = %crate::observe::short_sql(sql), duration = ?elapsed, outcome,
            error = %e.without_name(), "statement"
        ),
        (None, Ok(_)) => event!(
            debug, name = %ctx.name(), kind, duration = ?elapsed, outcome, "statement"
        ),
        (None, Err(e)) => event!(
            debug, name = %ctx.name(), kind, duration = ?elapsed, outcome, error = %e.without_name(),
            "statement"
        ),
    }
}

/// `ROLLBACK` on a connection whose last statement was abandoned. If that statement ended with
/// an error (a server-side timeout, typically), sqlx returns the error from the next call, which
/// it then does not send: a database error is followed by a second `ROLLBACK`. The caller's
/// check afterwards proves that the replies are in step. (A macro: a generic function over the
/// connection types meets the compiler's higher-ranked `Send` limits.)
#[cfg(any(feature = "postgres", feature = "mysql"))]
macro_rules! rollback_past_abandoned {
    ($c:expr) => {
        match $c.execute(sqlx::raw_sql("ROLLBACK")).await {
            Err(sqlx::Error::Database(_)) => $c.execute(sqlx::raw_sql("ROLLBACK")).await.map(drop),
            other => other.map(drop),
        }
    };
}

/// Brings a connection back to a known state: no statement running, no transaction open.
async fn clean(raw: &mut RawConn, interrupt: &AtomicBool) -> Result<(), sqlx::Error> {
    let _ = interrupt; // SQLite's only
    match raw {
        #[cfg(feature = "sqlite")]
        RawConn::Sqlite(c) => {
            // The worker runs commands in order: once it hands out the handle, the abandoned
            // statement has ended (interrupted by the flag). Then the flag is lowered again, or
            // it would interrupt the ROLLBACK too.
            drop(c.lock_handle().await?);
            interrupt.store(false, Ordering::Relaxed);
            match c.execute(sqlx::raw_sql("ROLLBACK")).await {
                Ok(_) => {}
                // "cannot rollback - no transaction is active": already clean.
                Err(sqlx::Error::Database(e)) if e.message().contains("no transaction") => {}
                Err(e) => return Err(e),
            }
            // After ROLLBACK (or "none active") SQLite is in autocommit mode by definition.
            let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&mut **c).await?;
            check(one == 1)
        }
        #[cfg(feature = "postgres")]
        RawConn::Postgres(c) => {
            // sqlx first reads the abandoned statement's replies to the end (the server's
            // statement_timeout bounds that), then sends ROLLBACK.
            rollback_past_abandoned!(c)?;
            // Outside a transaction block each simple query is its own transaction, so now() (the
            // transaction's start) equals the statement's start; inside one it is earlier.
            let row = c
                .fetch_one(sqlx::raw_sql("SELECT now() = statement_timestamp()"))
                .await?;
            check(sqlx::Row::try_get::<bool, _>(&row, 0)?)
        }
        #[cfg(feature = "mysql")]
        RawConn::MySql(c) => {
            rollback_past_abandoned!(c)?;
            // A reply read out of turn would make this fail (an OK where a row is expected).
            let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&mut **c).await?;
            check(one == 1)
        }
    }
}

fn check(clean: bool) -> Result<(), sqlx::Error> {
    if clean {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(
            "the connection is still inside a transaction after ROLLBACK".into(),
        ))
    }
}

async fn execute(raw: &mut RawConn, stmt: Stmt<'_>) -> Result<Out, DbError> {
    let sqlx_err = |what: &str| {
        let what = what.to_owned();
        move |e| DbError::from_sqlx(&what, e)
    };
    // The same statement handling for both drivers; only the binding and row types differ, and
    // sqlx's executor traits make a generic version costlier to read than this macro.
    macro_rules! run {
        ($c:expr, $bind:ident, $row:path) => {
            match stmt {
                Stmt::Control(sql) => $c
                    .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())))
                    .await
                    .map(|r| Out::Affected(r.rows_affected()))
                    .map_err(sqlx_err(sql)),
                Stmt::Execute(q) => q
                    .$bind()?
                    .execute(&mut *$c)
                    .await
                    .map(|r| Out::Affected(r.rows_affected()))
                    .map_err(sqlx_err(&q.describe())),
                Stmt::FetchAll(q) => {
                    let rows = q
                        .$bind()?
                        .fetch_all(&mut *$c)
                        .await
                        .map_err(sqlx_err(&q.describe()))?;
                    let Some(first) = rows.first() else {
                        return Ok(Out::Rows(Vec::new()));
                    };
                    let columns = column_names(first);
                    rows.iter()
                        .map(|r| $row(r, &columns))
                        .collect::<Result<_, _>>()
                        .map(Out::Rows)
                }
                Stmt::FetchOptional(q) => {
                    let row = q
                        .$bind()?
                        .fetch_optional(&mut *$c)
                        .await
                        .map_err(sqlx_err(&q.describe()))?;
                    row.map(|r| $row(&r, &column_names(&r)))
                        .transpose()
                        .map(Out::Row)
                }
            }
        };
    }
    match raw {
        #[cfg(feature = "sqlite")]
        RawConn::Sqlite(c) => {
            let c: &mut sqlx::SqliteConnection = c;
            run!(c, to_sqlite, Row::from_sqlite)
        }
        #[cfg(feature = "postgres")]
        RawConn::Postgres(c) => {
            let c: &mut sqlx::PgConnection = c;
            run!(c, to_postgres, Row::from_postgres)
        }
        #[cfg(feature = "mysql")]
        RawConn::MySql(c) => {
            let c: &mut sqlx::MySqlConnection = c;
            run!(c, to_mysql, Row::from_mysql)
        }
    }
}

fn is_sqlite(raw: &RawConn) -> bool {
    raw.kind() == crate::DatabaseKind::Sqlite
}

/// The statement methods shared by [`Session`](crate::Session) and [`Tx`](crate::Tx).
impl Conn {
    pub(crate) async fn execute(&mut self, q: &Query) -> Result<u64, DbError> {
        match self.run(Stmt::Execute(q), true).await? {
            Out::Affected(n) => Ok(n),
            _ => unreachable!("execute returns a count"),
        }
    }

    pub(crate) async fn fetch_all(&mut self, q: &Query) -> Result<Vec<Row>, DbError> {
        match self.run(Stmt::FetchAll(q), true).await? {
            Out::Rows(rows) => Ok(rows),
            _ => unreachable!("fetch_all returns rows"),
        }
    }

    pub(crate) async fn fetch_optional(&mut self, q: &Query) -> Result<Option<Row>, DbError> {
        match self.run(Stmt::FetchOptional(q), true).await? {
            Out::Row(row) => Ok(row),
            _ => unreachable!("fetch_optional returns a row"),
        }
    }
}

/// The name of the savepoint at `depth`: one per nesting level, so nested savepoints never clash.
fn savepoint_name(depth: usize) -> String {
    format!("uno_sp_{depth}")
}

/// Held by a savepoint's future: dropped before [`finish`](Self::finish), it records the
/// savepoint's depth so that the transaction rolls back to it before its next statement.
pub(crate) struct SavepointGuard {
    abandoned: Arc<AtomicUsize>,
    depth: usize,
    done: bool,
}

impl SavepointGuard {
    pub(crate) fn new(abandoned: &Arc<AtomicUsize>, depth: usize) -> Self {
        SavepointGuard {
            abandoned: abandoned.clone(),
            depth,
            done: false,
        }
    }

    pub(crate) fn finish(mut self) {
        self.done = true;
    }
}

impl Drop for SavepointGuard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Keep the outermost abandoned depth: rolling back to it undoes the inner ones too.
        let _ = self
            .abandoned
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur == 0 || self.depth < cur).then_some(self.depth)
            });
    }
}

/// "Expected a row" for `fetch_one` / `fetch_scalar`.
pub(crate) fn no_row(q: &Query) -> DbError {
    DbError::new(Kind::Decode, format!("{} returned no row", q.describe()))
}
