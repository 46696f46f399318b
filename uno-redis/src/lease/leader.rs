//! [`leader_task`]: a background job of an `AsyncManager` that runs only while its instance
//! holds a lease.

use std::convert::Infallible;
use std::future::Future;

use futures_lite::future;
use uno_core::lifecycle::{AsyncManager, LifecycleError};
use uno_core::sync::CancellationToken;
use uno_core::task::ManagedTask;

use super::LeaseConfig;

/// One term of office of a [`leader_task`] job: its fencing token and the token that fires when
/// the term ends (the lease lost, or shutdown).
#[derive(Debug, Clone)]
pub struct LeaderTerm {
    token: u64,
    ended: CancellationToken,
}

impl LeaderTerm {
    /// The lease's fencing token for this term (larger than every earlier term's).
    ///
    /// # Examples
    ///
    /// See [`leader_task`].
    pub fn token(&self) -> u64 {
        self.token
    }

    /// Fires when the term ends. The job is dropped then anyway; the token lets it hand the end
    /// on to work it spawned.
    ///
    /// # Examples
    ///
    /// See [`leader_task`].
    pub fn ended(&self) -> &CancellationToken {
        &self.ended
    }
}

/// Starts a background task of `manager`, named `name`, that contends for the lease of
/// `config` and runs `job` only while this instance holds it (leader election for cron-like
/// work across instances):
///
/// - when it takes the lease, it calls `job` with the [`LeaderTerm`];
/// - when the lease is lost, the job's future is dropped (cancelled) and the task contends again;
/// - when the job returns, the lease is released and the task contends again after the
///   contention interval;
/// - at shutdown, the job is dropped and the lease released.
///
/// Redis being unreachable only delays contention: the task keeps trying. A panic in the job
/// ends the task (its [`ManagedTask`] reports the panic as a value) and releases the lease as it
/// unwinds (best effort, as [`Lease`](crate::Lease)'s drop).
///
/// # Errors
///
/// As [`AsyncManager::spawn_task`]: [`LifecycleError::DuplicateName`] or
/// [`LifecycleError::ShuttingDown`].
///
/// # Examples
///
/// ```
/// # uno_smol::block_on(async {
/// use std::time::Duration;
/// use uno_core::lifecycle::AsyncManager;
/// use uno_core::sync::AsyncEvent;
/// use uno_redis::{LeaseConfig, Redis, leader_task};
///
/// let rt = uno_smol::runtime();
/// let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
/// let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
/// let manager = AsyncManager::new(&rt);
/// let config = LeaseConfig::builder(&redis, "uno-doc:leader").ttl(Duration::from_secs(2));
/// let leading = AsyncEvent::new();
/// let signal = leading.clone();
/// leader_task(&manager, "compaction", config.build().unwrap(), move |term| {
///     let signal = signal.clone();
///     async move {
///         assert!(term.token() > 0); // the leader's work, fenced by its token
///         signal.set();
///         term.ended().cancelled().await;
///     }
/// })
/// .unwrap();
/// leading.wait().await;
/// manager.shutdown(Duration::from_secs(5)).await; // drops the job, releases the lease
/// # });
/// ```
pub fn leader_task<F, Fut>(
    manager: &AsyncManager,
    name: impl Into<String>,
    config: LeaseConfig,
    mut job: F,
) -> Result<ManagedTask<Infallible>, LifecycleError>
where
    F: FnMut(LeaderTerm) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let shutdown = manager.shutdown_token();
    let rt = manager.runtime().clone();
    manager.spawn_task(name, async move {
        loop {
            let contend = async { Some(config.acquire().await) };
            let stop = async {
                shutdown.cancelled().await;
                None
            };
            let lease = match future::or(contend, stop).await {
                None => return Ok(()),
                Some(Ok(lease)) => lease,
                Some(Err(_)) => {
                    // Redis unreachable: try again later.
                    let pause = rt.sleep(config.retry_every);
                    if future::or(
                        async {
                            pause.await;
                            false
                        },
                        async {
                            shutdown.cancelled().await;
                            true
                        },
                    )
                    .await
                    {
                        return Ok(());
                    }
                    continue;
                }
            };
            let ended = lease.lost().child_token();
            let term = LeaderTerm {
                token: lease.token(),
                ended: ended.clone(),
            };
            // The end of the term is polled first: once it fired, the job is not polled again.
            let returned = future::or(
                async {
                    future::or(lease.lost().cancelled(), shutdown.cancelled()).await;
                    false
                },
                async {
                    job(term).await;
                    true
                },
            )
            .await;
            ended.cancel();
            // The job's future is dropped by now; release what we may still hold.
            let _ = lease.release().await;
            if shutdown.is_cancelled() {
                return Ok(());
            }
            if returned {
                let pause = rt.sleep(config.retry_every);
                future::or(pause, shutdown.cancelled()).await;
            }
        }
    })
}
