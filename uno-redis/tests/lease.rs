//! Leases and leader jobs against a real Redis, on every backend (one process; the
//! several-process cases are in tests/processes.rs).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{delete_prefix, on_every_backend, prefix, raw, redis_url};
use uno_core::lifecycle::AsyncManager;
use uno_redis::{LeaseConfig, Redis, leader_task};

#[test]
fn one_holder_at_a_time_tokens_grow_and_drop_releases() {
    let Some(url) = redis_url() else { return };
    on_every_backend(&url, |rt, url| {
        Box::pin(async move {
            let redis = Redis::builder(&rt, &url).build().await.unwrap();
            let key = prefix("lease");
            let config = |holder: &str| {
                LeaseConfig::builder(&redis, &key)
                    .holder(holder)
                    .ttl(Duration::from_millis(600))
                    .build()
                    .unwrap()
            };
            let (a, b) = (config("a"), config("b"));
            let first = a.try_acquire().await.unwrap().unwrap();
            assert!(b.try_acquire().await.unwrap().is_none());
            // Renewal keeps it past its ttl.
            rt.sleep(Duration::from_millis(1_000)).await;
            assert!(!first.is_lost());
            assert!(b.try_acquire().await.unwrap().is_none());
            let token = first.token();
            let ended = first.lost();
            drop(first); // released on drop, in the background
            ended.cancelled().await;
            let second = b.acquire().await.unwrap();
            assert!(second.token() > token);
            assert!(second.release().await.unwrap());
            delete_prefix(&url, &key).await;
        })
    });
}

#[test]
fn a_lost_lease_fires_its_token_and_the_leader_job_stops_and_recontends() {
    let Some(url) = redis_url() else { return };
    on_every_backend(&url, |rt, url| {
        Box::pin(async move {
            let redis = Redis::builder(&rt, &url).build().await.unwrap();
            let key = prefix("leader");
            let config = LeaseConfig::builder(&redis, &key)
                .ttl(Duration::from_millis(400))
                .retry_every(Duration::from_millis(50))
                .build()
                .unwrap();
            let manager = AsyncManager::new(&rt);
            let terms = Arc::new(Mutex::new(Vec::<(u64, bool)>::new()));
            let seen = terms.clone();
            leader_task(&manager, "job", config, move |term| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push((term.token(), false));
                    term.ended().cancelled().await;
                    // Dropped before this runs when the term ends: record only a late wake.
                    seen.lock().unwrap().push((term.token(), true));
                }
            })
            .unwrap();
            let deadline = rt.now() + Duration::from_secs(10);
            while terms.lock().unwrap().is_empty() {
                assert!(rt.now() < deadline);
                rt.sleep(Duration::from_millis(10)).await;
            }
            // Steal the lease: the renewal notices, the job is dropped, the task contends again.
            let mut conn = raw(&url).await;
            let _: i64 = redis::cmd("DEL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            while terms.lock().unwrap().len() < 2 {
                assert!(rt.now() < deadline, "no second term");
                rt.sleep(Duration::from_millis(10)).await;
            }
            let report = manager.shutdown(Duration::from_secs(5)).await;
            assert!(
                report.tasks.stopped.iter().any(|t| t == "job"),
                "{report:?}"
            );
            let terms = terms.lock().unwrap().clone();
            assert!(terms[1].0 > terms[0].0, "{terms:?}");
            assert!(
                terms.iter().all(|(_, late)| !late),
                "a job ran on after its term ended: {terms:?}"
            );
            // Shutdown released the lease.
            let held: i64 = redis::cmd("EXISTS")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!(held, 0);
            delete_prefix(&url, &key).await;
        })
    });
}

#[test]
fn a_panicking_leader_job_is_reported_as_a_value_and_its_lease_released() {
    let Some(url) = redis_url() else { return };
    on_every_backend(&url, |rt, url| {
        Box::pin(async move {
            let redis = Redis::builder(&rt, &url).build().await.unwrap();
            let key = prefix("leader-panic");
            let config = LeaseConfig::builder(&redis, &key)
                .ttl(Duration::from_secs(30)) // released by the unwinding Lease, not by expiry
                .build()
                .unwrap();
            let manager = AsyncManager::new(&rt);
            let task = leader_task(&manager, "job", config, |_term| async {
                panic!("the job failed");
            })
            .unwrap();
            let outcome = rt
                .timeout(Duration::from_secs(10), "leader task", task)
                .await
                .unwrap();
            match outcome {
                Err(uno_core::task::ManagedTaskError::Panicked { message }) => {
                    assert!(message.contains("the job failed"), "{message}")
                }
                other => panic!("{other:?}"),
            }
            let mut conn = raw(&url).await;
            let deadline = rt.now() + Duration::from_secs(5);
            loop {
                let held: i64 = redis::cmd("EXISTS")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                if held == 0 {
                    break;
                }
                assert!(rt.now() < deadline, "the lease was not released");
                rt.sleep(Duration::from_millis(20)).await;
            }
            manager.shutdown(Duration::from_secs(2)).await;
            delete_prefix(&url, &key).await;
        })
    });
}
