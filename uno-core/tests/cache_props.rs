//! Property tests of `AsyncCache` on virtual time: whatever mix of reads (awaited or running
//! concurrently, with slow or failing fetches), inserts, invalidations, clears and passing time, the
//! cache never holds more than its capacity and never returns a value older than its TTL.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use uno_core::cache::AsyncCache;
use uno_core::rt::{Runtime, VirtualRuntime};

#[derive(Debug, Clone)]
enum Op {
    /// Read `key` and wait for the answer; the fetch takes `delay_ms` and may fail.
    Get {
        key: u8,
        delay_ms: u16,
        fail: bool,
    },
    /// Read `key` in a spawned task, so loads overlap with the operations that follow.
    SpawnGet {
        key: u8,
        delay_ms: u16,
        fail: bool,
    },
    Insert {
        key: u8,
    },
    Invalidate {
        key: u8,
    },
    Clear,
    Advance {
        ms: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..12;
    prop_oneof![
        4 => (key.clone(), 0u16..3_000, proptest::bool::weighted(0.2))
            .prop_map(|(key, delay_ms, fail)| Op::Get { key, delay_ms, fail }),
        3 => (key.clone(), 0u16..3_000, proptest::bool::weighted(0.2))
            .prop_map(|(key, delay_ms, fail)| Op::SpawnGet { key, delay_ms, fail }),
        1 => key.clone().prop_map(|key| Op::Insert { key }),
        1 => key.prop_map(|key| Op::Invalidate { key }),
        1 => Just(Op::Clear),
        3 => (0u16..4_000).prop_map(|ms| Op::Advance { ms }),
    ]
}

#[derive(Debug, Clone)]
struct Config {
    capacity: usize,
    ttl_ms: u64,
    /// Where the refresh window opens, as a fraction of the TTL in percent (none if 0).
    refresh_pct: u64,
    negative_ttl_ms: Option<u64>,
}

fn config() -> impl Strategy<Value = Config> {
    (
        1usize..6,
        500u64..5_000,
        prop_oneof![Just(0u64), 10u64..95],
        proptest::option::of(100u64..2_000),
    )
        .prop_map(|(capacity, ttl_ms, refresh_pct, negative_ttl_ms)| Config {
            capacity,
            ttl_ms,
            refresh_pct,
            negative_ttl_ms,
        })
}

/// The value is the instant its fetch finished: its age is how long it has been cached.
type Cache = AsyncCache<u8, Instant, ()>;

fn fetch(
    rt: &Runtime,
    delay_ms: u16,
    fail: bool,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<Instant, ()>> + Send>> + use<> {
    let rt = rt.clone();
    move || {
        Box::pin(async move {
            rt.sleep(Duration::from_millis(delay_ms.into())).await;
            if fail { Err(()) } else { Ok(rt.now()) }
        })
    }
}

/// A value returned at `now` must have been written less than `ttl` ago.
fn check_age(now: Instant, value: Instant, ttl: Duration) {
    let age = now.duration_since(value);
    assert!(
        age < ttl,
        "returned a value {age:?} old with a ttl of {ttl:?}"
    );
}

fn run(config: Config, ops: Vec<Op>) {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let ttl = Duration::from_millis(config.ttl_ms);
    let mut builder = Cache::builder(&rt).max_capacity(config.capacity).ttl(ttl);
    if config.refresh_pct > 0 {
        builder = builder.refresh_after(ttl * config.refresh_pct as u32 / 100);
    }
    if let Some(ms) = config.negative_ttl_ms {
        builder = builder.negative_ttl(Duration::from_millis(ms));
    }
    let cache = builder.build().unwrap();

    vrt.block_on(async {
        let mut spawned = Vec::new();
        for op in ops {
            match op {
                Op::Get {
                    key,
                    delay_ms,
                    fail,
                } => {
                    if let Ok(value) = cache.get(key, fetch(&rt, delay_ms, fail)).await {
                        check_age(rt.now(), value, ttl);
                    }
                }
                Op::SpawnGet {
                    key,
                    delay_ms,
                    fail,
                } => {
                    let (cache, rt2) = (cache.clone(), rt.clone());
                    let fetch = fetch(&rt, delay_ms, fail);
                    spawned.push(rt.spawn(async move {
                        if let Ok(value) = cache.get(key, fetch).await {
                            check_age(rt2.now(), value, ttl);
                        }
                    }));
                }
                Op::Insert { key } => cache.insert(key, rt.now()),
                Op::Invalidate { key } => {
                    cache.invalidate(&key);
                    assert_eq!(cache.peek(&key), None);
                }
                Op::Clear => {
                    cache.clear();
                    assert_eq!(cache.entry_count(), 0);
                }
                Op::Advance { ms } => rt.sleep(Duration::from_millis(ms.into())).await,
            }
            assert!(cache.entry_count() <= config.capacity, "over capacity");
            for key in 0..12 {
                if let Some(value) = cache.peek(&key) {
                    check_age(rt.now(), value, ttl);
                }
            }
        }
        for task in spawned {
            // A panic in a reader (a failed age check) comes back here as an error.
            task.await.unwrap();
        }
        assert!(cache.entry_count() <= config.capacity, "over capacity");
        let stats = cache.stats();
        assert!(stats.load_failures <= stats.loads);
        assert!(stats.refresh_failures <= stats.refreshes);
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_over_capacity_and_never_older_than_ttl(
        config in config(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        run(config, ops);
    }
}
