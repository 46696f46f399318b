//! Several processes (this test binary re-executed in a role) sharing one limit and one lease.
//! The children run on different backends, so the shared state is also shared across runtimes.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    delete_prefix, on_backend, prefix, raw, redis_url, report, role, spawn_role, tell, told,
};
use uno_core::lifecycle::AsyncManager;
use uno_redis::{LeaseConfig, Redis, RedisRateLimiter, leader_task};

const BACKENDS: [&str; 4] = [
    "tokio-current-thread",
    "tokio-multi-thread",
    "smol",
    "async-std",
];

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap()
}

#[test]
fn four_processes_share_one_limit_and_a_keyed_limit_holds_per_key() {
    let Some(url) = redis_url() else { return };
    if role().as_deref() == Some("limiter") {
        return limiter_child(&url);
    }
    let prefix = prefix("processes");
    let start = wall_ms() + 3_000; // every child is connected and waiting by then
    let children: Vec<_> = BACKENDS
        .iter()
        .map(|backend| {
            let envs = [
                ("UNO_TEST_BACKEND", backend.to_string()),
                ("UNO_TEST_PREFIX", prefix.clone()),
                ("UNO_TEST_START_MS", start.to_string()),
            ];
            spawn_role(
                "four_processes_share_one_limit_and_a_keyed_limit_holds_per_key",
                "limiter",
                &envs,
            )
        })
        .collect();
    let (mut global, mut keyed) = (0u64, [0u64; 2]);
    for child in children {
        let out = child.wait_with_output().unwrap();
        let out = String::from_utf8(out.stdout).unwrap();
        assert!(report(&out, "done").is_some(), "{out}");
        global += report(&out, "global").unwrap().parse::<u64>().unwrap();
        for (i, k) in keyed.iter_mut().enumerate() {
            *k += report(&out, &format!("key{i}"))
                .unwrap()
                .parse::<u64>()
                .unwrap();
        }
    }
    let bound = |expected: f64, got: u64| {
        let off = (got as f64 - expected).abs() / expected;
        assert!(off <= 0.02, "admitted {got}, expected {expected} ± 2 %");
    };
    println!("admitted: global {global} (expected 510), keys {keyed:?} (expected 255 each)");
    bound(510.0, global);
    bound(255.0, keyed[0]);
    bound(255.0, keyed[1]);
    uno_smol::block_on(delete_prefix(&url, &prefix));
}

/// 100/s with burst 10 (global) and 50/s with burst 5 per key, for 5 s from the agreed start.
fn limiter_child(url: &str) {
    on_backend(&env("UNO_TEST_BACKEND"), url, |rt, url| {
        Box::pin(async move {
            let redis = Redis::builder(&rt, &url).build().await.unwrap();
            let prefix = env("UNO_TEST_PREFIX");
            let second = Duration::from_secs(1);
            let global =
                RedisRateLimiter::builder(&redis, &format!("{prefix}:global"), 100, second)
                    .burst(10)
                    .build()
                    .unwrap();
            let keyed = RedisRateLimiter::builder(&redis, &format!("{prefix}:keyed"), 50, second)
                .burst(5)
                .build()
                .unwrap();
            let start: u64 = env("UNO_TEST_START_MS").parse().unwrap();
            let end = start + 5_000;
            rt.sleep(Duration::from_millis(start.saturating_sub(wall_ms())))
                .await;
            let counts: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
            let mut tasks = Vec::new();
            for i in 0..6usize {
                let (global, keyed, counts, rt2) =
                    (global.clone(), keyed.clone(), counts.clone(), rt.clone());
                tasks.push(rt.spawn(async move {
                    loop {
                        let slot = if i < 2 { 0 } else { 1 + i % 2 };
                        let admitted = if slot == 0 {
                            global.acquire(())
                        } else {
                            keyed.acquire(format!("k{}", slot - 1))
                        };
                        let limit = Duration::from_millis(end.saturating_sub(wall_ms()) + 1);
                        match rt2.timeout(limit, "window", admitted).await {
                            Ok(out) => out.unwrap(),
                            Err(_) => return,
                        }
                        if wall_ms() >= end {
                            return;
                        }
                        counts[slot].fetch_add(1, Ordering::Relaxed);
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
            tell("global", counts[0].load(Ordering::Relaxed));
            tell("key0", counts[1].load(Ordering::Relaxed));
            tell("key1", counts[2].load(Ordering::Relaxed));
            tell("done", "");
        })
    });
}

#[test]
fn two_processes_contend_for_a_lease_and_killing_the_leader_hands_over() {
    let Some(url) = redis_url() else { return };
    if role().as_deref() == Some("lease") {
        return lease_child(&url);
    }
    let key = prefix("lease-processes");
    let name = "two_processes_contend_for_a_lease_and_killing_the_leader_hands_over";
    let (tx, rx) = mpsc::channel::<(usize, String)>();
    let mut children = Vec::new();
    for (i, backend) in ["smol", "tokio-multi-thread"].iter().enumerate() {
        let envs = [
            ("UNO_TEST_BACKEND", backend.to_string()),
            ("UNO_TEST_PREFIX", key.clone()),
        ];
        let mut child = spawn_role(name, "lease", &envs);
        let stdout = child.stdout.take().unwrap();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send((i, line)).is_err() {
                    return;
                }
            }
        });
        children.push(child);
    }
    let leader_line = |rx: &mpsc::Receiver<(usize, String)>, limit: Duration| loop {
        let (who, line) = rx.recv_timeout(limit).expect("a leader within the limit");
        if let Some(token) = told(&line, "leader") {
            return (who, token.parse::<u64>().unwrap());
        }
    };
    let (first, first_token) = leader_line(&rx, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(1_500));
    children[first].kill().unwrap();
    children[first].wait().unwrap();
    let killed = Instant::now();
    let (second, second_token) = leader_line(&rx, Duration::from_secs(20));
    let handover = killed.elapsed();
    println!("handover after the leader was killed: {handover:?} (ttl 1 s)");
    assert_ne!(first, second);
    assert!(second_token > first_token);
    // Within the ttl plus one contention interval; generous for a loaded machine.
    assert!(handover < Duration::from_secs(5), "{handover:?}");
    std::thread::sleep(Duration::from_millis(500));
    children[second].kill().unwrap();
    children[second].wait().unwrap();

    // The job's log, in server order: one holder per token, tokens never go back.
    uno_smol::block_on(async {
        let mut conn = raw(&url).await;
        let log: Vec<String> = redis::cmd("LRANGE")
            .arg(format!("{key}:log"))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(log.len() > 10, "{log:?}");
        let mut last: Option<(u64, String)> = None;
        for entry in &log {
            let (token, pid) = entry.split_once(' ').unwrap();
            let token: u64 = token.parse().unwrap();
            if let Some((t, p)) = &last {
                assert!(token >= *t, "token went back: {log:?}");
                assert!(token != *t || pid == p, "two holders of token {t}: {log:?}");
            }
            last = Some((token, pid.to_owned()));
        }
        delete_prefix(&url, &key).await;
    });
}

/// Contends for the lease with `leader_task`; while leader, appends `<token> <pid>` to the log.
fn lease_child(url: &str) {
    on_backend(&env("UNO_TEST_BACKEND"), url, |rt, url| {
        Box::pin(async move {
            let redis = Redis::builder(&rt, &url).build().await.unwrap();
            let key = env("UNO_TEST_PREFIX");
            let config = LeaseConfig::builder(&redis, &key)
                .ttl(Duration::from_secs(1))
                .renew_every(Duration::from_millis(200))
                .retry_every(Duration::from_millis(100))
                .build()
                .unwrap();
            let manager = AsyncManager::new(&rt);
            let (rt2, log, url2) = (rt.clone(), format!("{key}:log"), url.clone());
            leader_task(&manager, "leader", config, move |term| {
                let (rt, log, url) = (rt2.clone(), log.clone(), url2.clone());
                async move {
                    tell("leader", term.token());
                    let mut conn = raw(&url).await;
                    loop {
                        let entry = format!("{} {}", term.token(), std::process::id());
                        let _: i64 = redis::cmd("RPUSH")
                            .arg(&log)
                            .arg(entry)
                            .query_async(&mut conn)
                            .await
                            .unwrap();
                        rt.sleep(Duration::from_millis(50)).await;
                    }
                }
            })
            .unwrap();
            // Killed by the parent; this bound only keeps a lost child from running forever.
            rt.sleep(Duration::from_secs(30)).await;
            manager.shutdown(Duration::from_secs(2)).await;
        })
    });
}
