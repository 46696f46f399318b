//! Whether Redis answered lately: after a timeout or a lost connection, loads skip Redis for a
//! short while (`recheck_after`) instead of each paying a call timeout, then try it again.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use uno_core::time::deadline_after;

use crate::RedisError;

#[derive(Debug)]
pub(super) struct Health {
    recheck_after: Duration,
    /// Until when Redis is taken as down, and the error that said so.
    down: Mutex<Option<(Instant, RedisError)>>,
}

impl Health {
    pub(super) fn new(recheck_after: Duration) -> Self {
        Health {
            recheck_after,
            down: Mutex::new(None),
        }
    }

    /// The error to answer with while Redis is taken as down at `now`; `None`: ask Redis.
    pub(super) fn down_at(&self, now: Instant) -> Option<RedisError> {
        let down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        match &*down {
            Some((until, err)) if now < *until => Some(err.clone()),
            _ => None,
        }
    }

    /// Records a failed call: only "could not ask" errors mark Redis down; an error reply means
    /// it is up.
    pub(super) fn failed(&self, now: Instant, err: &RedisError) {
        if err.is_unavailable() {
            let until = deadline_after(now, self.recheck_after);
            *self.down.lock().unwrap_or_else(PoisonError::into_inner) = Some((until, err.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_for_the_recheck_window_only_for_unavailability() {
        let health = Health::new(Duration::from_secs(1));
        let now = Instant::now();
        assert!(health.down_at(now).is_none());
        let reply = RedisError::Server {
            code: "ERR".into(),
            message: "x".into(),
        };
        health.failed(now, &reply);
        assert!(health.down_at(now).is_none());
        let slow = RedisError::Timeout {
            name: "r".into(),
            after: Duration::from_millis(5),
        };
        health.failed(now, &slow);
        assert!(
            health
                .down_at(now + Duration::from_millis(999))
                .is_some_and(|e| e.is_timeout())
        );
        assert!(health.down_at(now + Duration::from_secs(1)).is_none());
    }
}
