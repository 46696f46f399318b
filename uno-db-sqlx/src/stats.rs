//! What sessions had to do to stay clean ([`DbStats`]) and the pool's state ([`PoolStatus`]).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::observe::Stat;

/// Counters shared by a database's sessions (and, per group, by the group's sessions).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) committed: AtomicU64,
    pub(crate) rolled_back: AtomicU64,
    pub(crate) closed_in_doubt: AtomicU64,
    pub(crate) recycled: AtomicU64,
    pub(crate) outcome_unknown: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) timeouts: AtomicU64,
}

impl Counters {
    /// The counter of `stat`.
    pub(crate) fn get(&self, stat: Stat) -> &AtomicU64 {
        match stat {
            Stat::Committed => &self.committed,
            Stat::RolledBack => &self.rolled_back,
            Stat::OutcomeUnknown => &self.outcome_unknown,
            Stat::ClosedInDoubt => &self.closed_in_doubt,
            Stat::Recycled => &self.recycled,
            Stat::Retry => &self.retries,
            Stat::Timeout => &self.timeouts,
        }
    }

    pub(crate) fn snapshot(&self) -> DbStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DbStats {
            committed: get(&self.committed),
            rolled_back: get(&self.rolled_back),
            closed_in_doubt: get(&self.closed_in_doubt),
            recycled: get(&self.recycled),
            outcome_unknown: get(&self.outcome_unknown),
            retries: get(&self.retries),
            timeouts: get(&self.timeouts),
        }
    }
}

/// What the sessions of a [`Database`](crate::Database) (or of one group) had to do to stay clean.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DbStats {
    /// Transactions committed.
    pub committed: u64,
    /// Transactions rolled back with `ROLLBACK` (after an operation's error, a failed commit, or
    /// cancellation), the connection going back to the pool.
    pub rolled_back: u64,
    /// Connections closed instead of returned, because their state was in doubt (a future dropped
    /// mid-statement, a timeout, a failed rollback) and cleaning them did not work in time, or
    /// they were broken. The server rolls back their transaction.
    pub closed_in_doubt: u64,
    /// Connections whose state was in doubt, cleaned in the background (their statement finished
    /// or stopped, `ROLLBACK`, checked) and returned to the pool instead of closed.
    pub recycled: u64,
    /// Commits whose outcome is unknown.
    pub outcome_unknown: u64,
    /// Transactions run again after a serialization failure, deadlock or busy database.
    pub retries: u64,
    /// Statements that timed out.
    pub timeouts: u64,
}

impl fmt::Display for DbStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} committed, {} rolled back, {} connections closed in doubt, {} recycled, \
             {} outcomes unknown, {} retries, {} timeouts",
            self.committed,
            self.rolled_back,
            self.closed_in_doubt,
            self.recycled,
            self.outcome_unknown,
            self.retries,
            self.timeouts
        )
    }
}

/// The pool's connections right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStatus {
    /// Connections open (idle or checked out).
    pub size: u32,
    /// Connections idle in the pool.
    pub idle: usize,
}

impl PoolStatus {
    /// Every open connection is idle: nothing is checked out.
    pub fn is_settled(&self) -> bool {
        self.size as usize == self.idle
    }
}
