//! [`SessionState`]: what a [`Session`](crate::Session), its transactions and its
//! [`SessionOperationGroup`](crate::SessionOperationGroup) share — the connection at rest and
//! whether the session is closed. Next to the connection, below the session and transaction
//! modules that use it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use uno_core::sync::guards::MutexGuard;
use uno_core::sync::{AsyncLock, cancellable};

use crate::connection::{Conn, Ctx};
use crate::error::DbError;

pub(crate) struct SessionState {
    ctx: Arc<Ctx>,
    /// The connection, when the session holds one at rest. Taken out while a statement or a
    /// transaction runs, so that dropping that future drops (and closes) the connection at once.
    slot: AsyncLock<Option<Conn>>,
    closed: AtomicBool,
}

impl SessionState {
    /// An open session holding `conn` at rest.
    pub(crate) fn new(ctx: Arc<Ctx>, conn: Conn) -> SessionState {
        SessionState {
            ctx,
            slot: AsyncLock::new(Some(conn)),
            closed: AtomicBool::new(false),
        }
    }

    /// What the session's statements share: the clock, the limit, the cancellation, the counters.
    pub(crate) fn ctx(&self) -> &Arc<Ctx> {
        &self.ctx
    }

    /// Whether the session was closed (or cancelled).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the session closed: later calls fail with [`DbError::is_session_closed`], and a
    /// connection put back is released instead of kept.
    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Closes the session and cancels whatever it is running.
    pub(crate) fn cancel(&self) {
        self.mark_closed();
        self.ctx.token.cancel();
    }

    /// Locks the slot, unless the session is closed or cancelled.
    pub(crate) async fn lock(&self) -> Result<MutexGuard<'_, Option<Conn>>, DbError> {
        let closed = || self.ctx.named(DbError::session_closed());
        if self.is_closed() {
            return Err(closed());
        }
        let guard = cancellable(&self.ctx.token, self.slot.lock())
            .await
            .map_err(|_| {
                self.ctx
                    .named(DbError::cancelled("waiting for the session"))
            })?;
        if self.is_closed() {
            return Err(closed());
        }
        Ok(guard)
    }

    /// The session's connection, or a fresh one if it had none (or one in doubt, now closed).
    pub(crate) async fn take(&self, slot: &mut Option<Conn>) -> Result<Conn, DbError> {
        match slot.take() {
            Some(conn) if !conn.is_in_doubt() => Ok(conn),
            _ => Conn::acquire(&self.ctx).await,
        }
    }

    /// Puts a connection back at rest; one in doubt is dropped (closed) instead, and a closed
    /// session releases it to the pool.
    pub(crate) fn put_back(&self, slot: &mut Option<Conn>, conn: Conn) {
        if !conn.is_in_doubt() && !conn.in_transaction() && !self.is_closed() {
            *slot = Some(conn);
        }
    }

    /// Takes the connection at rest out of the session, waiting for a running statement or
    /// transaction to end (whether or not the session is closed or cancelled).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped while it waits, nothing is taken.
    pub(crate) async fn take_at_rest(&self) -> Option<Conn> {
        self.slot.lock().await.take()
    }

    /// Takes the connection at rest out of the session if nothing is running on it now.
    pub(crate) fn try_take_at_rest(&self) -> Option<Conn> {
        self.slot.try_lock().and_then(|mut slot| slot.take())
    }
}

impl Drop for SessionState {
    /// The session is gone (with its transactions and its group's hold on it): one fewer active.
    fn drop(&mut self) {
        self.ctx.db.shared.observer.session_dropped();
    }
}
