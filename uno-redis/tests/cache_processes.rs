//! The two-level cache across processes: each test re-runs its own binary as child processes
//! (`--exact <test>` with a role in `UNO_CACHE_TEST_ROLE`), on every runtime.
//!
//! - stampede: 4 processes × 50 tasks miss one key at once → one fetch in all;
//! - the lease holder killed mid-fetch → another process takes over within the lease ttl;
//! - invalidation: one process invalidates, every other's L1 drops the key; the latency
//!   distribution is printed.

mod cache_support;
mod common;

use std::time::Duration;

use cache_support::{Children, Ctx, Prefix, connect, raw, role, spawn_child, wall_micros};
use redis::AsyncCommands as _;
use uno_redis::JsonCodec;
use uno_redis::cache::TwoLevelCache;

type Cache = TwoLevelCache<str, String, String, JsonCodec>;

const PROCESSES: usize = 4;
const TASKS: usize = 50;
const LEASE_TTL: Duration = Duration::from_secs(1);

async fn child_cache(ctx: &Ctx, prefix: &Prefix) -> Cache {
    let url = cache_support::redis_url().unwrap();
    let redis = connect(&ctx.rt, &url).await;
    let cache = Cache::builder(&redis, &prefix.name, JsonCodec)
        .ttl(Duration::from_secs(30))
        .lease_ttl(LEASE_TTL)
        .poll_interval(Duration::from_millis(100))
        .wait_timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap();
    cache_support::eventually(&ctx.rt, "subscribed", Duration::from_secs(10), || {
        std::future::ready(cache.is_subscribed())
    })
    .await;
    cache
}

/// Every child says it is ready, then waits for all `n` siblings.
async fn barrier(ctx: &Ctx, prefix: &Prefix, what: &str, n: usize) {
    let url = cache_support::redis_url().unwrap();
    let mut conn = raw(&url).await;
    let key = prefix.aux(what);
    let _: u64 = conn.incr(&key, 1).await.unwrap();
    cache_support::eventually(&ctx.rt, what, Duration::from_secs(20), || {
        let mut conn = conn.clone();
        let key = key.clone();
        async move { conn.get::<_, Option<usize>>(&key).await.unwrap() == Some(n) }
    })
    .await;
}

/// One child of the stampede: `TASKS` concurrent misses of one key.
async fn stampede_child(ctx: &Ctx, slow_leader: bool) {
    let prefix = Prefix::new("");
    let url = cache_support::redis_url().unwrap();
    let cache = child_cache(ctx, &prefix).await;
    barrier(ctx, &prefix, "ready", PROCESSES).await;
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let cache = cache.clone();
            let (url, prefix_name, rt) = (url.clone(), prefix.name.clone(), ctx.rt.clone());
            ctx.rt.spawn(async move {
                let fetch = move || async move {
                    let mut conn = raw(&url).await;
                    let nth: u64 = conn
                        .incr(format!("{prefix_name}:test:fetches"), 1)
                        .await
                        .unwrap();
                    if slow_leader && nth == 1 {
                        // The first holder says who it is and hangs: the parent kills it.
                        let index = cache_support::child_index();
                        let _: () = conn
                            .set(format!("{prefix_name}:test:leader"), index)
                            .await
                            .unwrap();
                        std::future::pending::<()>().await;
                    }
                    rt.sleep(Duration::from_millis(200)).await; // let everyone pile up
                    Ok::<_, String>(format!("fetched {nth}"))
                };
                cache.get("hot", fetch).await
            })
        })
        .collect();
    for task in tasks {
        let value = task.await.unwrap().unwrap();
        assert!(value.starts_with("fetched"), "{value}");
    }
    let stats = cache.stats();
    println!(
        "child {}: fetches {} waits {} takeovers {} l2 hits {}",
        cache_support::child_index(),
        stats.fetches,
        stats.waits,
        stats.takeovers,
        stats.l2_hits
    );
    assert_eq!(
        stats.l1.loads, 1,
        "L1 single-flights the 50 tasks of a process"
    );
}

cache_test!(stampede_of_four_processes_fetches_once, |ctx| {
    if role().is_some() {
        return stampede_child(&ctx, false).await;
    }
    let prefix = Prefix::new("stampede");
    let url = cache_support::redis_url().unwrap();
    let mut children = Children(
        (0..PROCESSES)
            .map(|i| spawn_child(ctx.test, "stampede", &prefix.name, i))
            .collect(),
    );
    children.join(&ctx.rt, Duration::from_secs(60)).await;
    let mut conn = raw(&url).await;
    let fetches: u64 = conn.get(prefix.aux("fetches")).await.unwrap();
    assert_eq!(
        fetches, 1,
        "{PROCESSES} processes × {TASKS} tasks: one fetch in all"
    );
    let lease: Option<String> = conn.get(prefix.lease_key("hot")).await.unwrap();
    assert_eq!(lease, None);
});

cache_test!(a_killed_leader_is_taken_over_within_the_lease_ttl, |ctx| {
    if role().is_some() {
        return stampede_child(&ctx, true).await;
    }
    let prefix = Prefix::new("killed");
    let url = cache_support::redis_url().unwrap();
    let mut children = Children(
        (0..PROCESSES)
            .map(|i| spawn_child(ctx.test, "killed", &prefix.name, i))
            .collect(),
    );
    let mut conn = raw(&url).await;
    let leader_key = prefix.aux("leader");
    let start = ctx.rt.now();
    let leader = loop {
        if let Some(index) = conn.get::<_, Option<usize>>(&leader_key).await.unwrap() {
            break index;
        }
        assert!(
            ctx.rt.now() - start < Duration::from_secs(60),
            "no leader started its fetch"
        );
        ctx.rt.sleep(Duration::from_millis(5)).await;
    };
    let mut killed = children.0.remove(leader);
    killed.kill().unwrap();
    killed.wait().unwrap();
    let killed_at = ctx.rt.now();
    // Everyone else finishes: the lease expires (no renewal from a dead process), a waiter's
    // next poll takes it over, its fill wakes the rest.
    let outputs = children.join(&ctx.rt, Duration::from_secs(30)).await;
    let took = ctx.rt.now() - killed_at;
    println!("after the kill, the other processes were served in {took:?}");
    assert!(
        took < LEASE_TTL * 10,
        "took over within the lease ttl (×10 for a loaded machine)"
    );
    let fetches: u64 = conn.get(prefix.aux("fetches")).await.unwrap();
    assert_eq!(
        fetches, 2,
        "the dead leader's fetch and one takeover: {outputs:?}"
    );
    let takeovers: u32 = outputs
        .iter()
        .filter_map(|out| {
            out.split("takeovers ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .sum();
    assert_eq!(takeovers, 1, "{outputs:?}");
});

const ROUNDS: usize = 30;
const OBSERVERS: usize = 3;

/// An observer: each round, reads the round's key into its L1, says so, and notes when its L1
/// lost the key.
async fn invalidation_child(ctx: &Ctx) {
    let prefix = Prefix::new("");
    let url = cache_support::redis_url().unwrap();
    let cache = child_cache(ctx, &prefix).await;
    let mut conn = raw(&url).await;
    for round in 0..ROUNDS {
        let key = format!("k{round}");
        cache_support::eventually(&ctx.rt, "the round starts", Duration::from_secs(20), || {
            let mut conn = conn.clone();
            let flag = prefix.aux("round");
            async move { conn.get::<_, Option<usize>>(&flag).await.unwrap() >= Some(round) }
        })
        .await;
        let value = cache
            .get(&key, || async { Err("filled by the parent".to_owned()) })
            .await;
        assert_eq!(value.unwrap(), format!("v{round}"));
        let _: u64 = conn
            .incr(prefix.aux(&format!("ready:{round}")), 1)
            .await
            .unwrap();
        let start = ctx.rt.now();
        while cache.peek_l1(&key).is_some() {
            assert!(
                ctx.rt.now() - start < Duration::from_secs(10),
                "never invalidated"
            );
            ctx.rt.sleep(Duration::from_millis(1)).await;
        }
        let seen = wall_micros();
        let _: u64 = conn
            .rpush(prefix.aux(&format!("seen:{round}")), seen)
            .await
            .unwrap();
    }
}

cache_test!(an_invalidation_reaches_every_process, |ctx| {
    if role().is_some() {
        return invalidation_child(&ctx).await;
    }
    let prefix = Prefix::new("broadcast");
    let url = cache_support::redis_url().unwrap();
    let cache = child_cache(&ctx, &prefix).await;
    let mut children = Children(
        (0..OBSERVERS)
            .map(|i| spawn_child(ctx.test, "observer", &prefix.name, i))
            .collect(),
    );
    let mut conn = raw(&url).await;
    let mut latencies = Vec::new();
    for round in 0..ROUNDS {
        let key = format!("k{round}");
        let value = format!("v{round}");
        cache
            .get(&key, move || async move { Ok(value) })
            .await
            .unwrap();
        let _: () = conn.set(prefix.aux("round"), round).await.unwrap();
        let ready = prefix.aux(&format!("ready:{round}"));
        cache_support::eventually(&ctx.rt, "observers ready", Duration::from_secs(30), || {
            let mut conn = conn.clone();
            let ready = ready.clone();
            async move { conn.get::<_, Option<usize>>(&ready).await.unwrap() == Some(OBSERVERS) }
        })
        .await;
        let sent = wall_micros();
        cache.invalidate(&key).await.unwrap();
        let seen_key = prefix.aux(&format!("seen:{round}"));
        cache_support::eventually(
            &ctx.rt,
            "every observer saw it",
            Duration::from_secs(10),
            || {
                let mut conn = conn.clone();
                let seen_key = seen_key.clone();
                async move { conn.llen::<_, usize>(&seen_key).await.unwrap() == OBSERVERS }
            },
        )
        .await;
        let seen: Vec<u64> = conn.lrange(&seen_key, 0, -1).await.unwrap();
        latencies.extend(
            seen.iter()
                .map(|&t| Duration::from_micros(t.saturating_sub(sent))),
        );
    }
    children.join(&ctx.rt, Duration::from_secs(30)).await;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let (p50, p99, max) = (at(0.5), at(0.99), *latencies.last().unwrap());
    let within = latencies
        .iter()
        .filter(|l| **l <= Duration::from_millis(50))
        .count();
    println!(
        "{}: invalidation seen by another process's L1 ({} samples, 1 ms polling): \
         p50 {p50:?}, p99 {p99:?}, max {max:?}; {within} within 50 ms",
        ctx.test,
        latencies.len()
    );
    assert!(
        max < Duration::from_secs(2),
        "every L1 dropped the key well within 2 s: {max:?}"
    );
});
