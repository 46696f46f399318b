//! The subscriber task: one per cache instance, listening on the cache's channel for
//! invalidations (dropped from L1) and fills (waking this process's waiters).
//!
//! `build` makes the first subscription before the cache serves. The subscription has its own
//! connection. When it is lost, messages published meanwhile are
//! gone: so each time it is (re-)established, L1 is cleared (an invalidation may have been
//! missed) and every waiter is woken to look again. Between the loss and the resubscription, an
//! L1 entry can outlive an invalidation made elsewhere by up to its L1 ttl; waiters fall back on
//! their poll interval. The task retries with a backoff (50 ms doubling to 2 s) and ends when the
//! last handle of the cache is dropped.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_lite::{StreamExt, future};
use uno_core::cache::AsyncCache;

use super::error::TwoLevelError;
use super::l2::Event;
use super::load::Shared;
use super::stats::bump;
use crate::subscription::Subscription;

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Runs until the cache's last handle is dropped, starting with `initial`, the subscription
/// `build` made (before any value was loaded: nothing to clear).
pub(super) async fn run<V, E, C>(
    l1: AsyncCache<String, V, TwoLevelError<E>>,
    shared: Arc<Shared<C>>,
    mut initial: Option<Subscription>,
) where
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    let mut backoff = FIRST_BACKOFF;
    let mut first = true;
    while !shared.closing.load(Ordering::Acquire) {
        let channel = shared.l2.channel();
        let fresh = initial.is_some();
        let subscribed = match initial.take() {
            Some(subscription) => Some(Ok(subscription)),
            None => {
                future::or(
                    async { Some(shared.l2.redis().subscribe(&[channel]).await) },
                    async {
                        closed(&shared).await;
                        None
                    },
                )
                .await
            }
        };
        match subscribed {
            None => return,
            Some(Ok(mut messages)) => {
                // Whatever was published while we were not listening is lost: start clean.
                if !fresh {
                    l1.clear();
                }
                if !first {
                    bump(&shared.counters.resubscribes);
                }
                first = false;
                backoff = FIRST_BACKOFF;
                shared.subscribed.store(true, Ordering::Release);
                shared.notices.notify_all();
                loop {
                    let next = future::or(messages.next(), async {
                        closed(&shared).await;
                        None
                    })
                    .await;
                    let Some(message) = next else { break };
                    dispatch(&l1, &shared, message.get_payload_bytes());
                }
                shared.subscribed.store(false, Ordering::Release);
                shared.notices.notify_all();
            }
            Some(Err(err)) => {
                bump(&shared.counters.redis_errors);
                let _ = err;
            }
        }
        if shared.closing.load(Ordering::Acquire) {
            return;
        }
        future::or(shared.rt.sleep(backoff), closed(&shared)).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn dispatch<V, E, C>(
    l1: &AsyncCache<String, V, TwoLevelError<E>>,
    shared: &Shared<C>,
    payload: &[u8],
) where
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    match Event::parse(payload) {
        Some(Event::Invalidated(key)) => {
            l1.invalidate(key);
            bump(&shared.counters.invalidations_received);
            shared.notices.notify(key);
        }
        Some(Event::Filled(key) | Event::Released(key)) => shared.notices.notify(key),
        None => {}
    }
}

/// Completes once the cache's last handle was dropped.
async fn closed<C>(shared: &Shared<C>) {
    loop {
        if shared.closing.load(Ordering::Acquire) {
            return;
        }
        let listener = shared.closed.listen();
        if shared.closing.load(Ordering::Acquire) {
            return;
        }
        listener.await;
    }
}
