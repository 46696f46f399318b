//! The two-level cache in one process, against real Redis, on every runtime: L1 and L2 hits,
//! misses, TTLs, codecs, configuration errors, coordinated refresh-ahead, invalidation between
//! two instances, takeover of a dead holder's lease, the wait deadline, panics and cancellation.
//! (Two instances of one cache name in one process stand for two processes here; the
//! multi-process cases are in cache_processes.rs.)

mod cache_support;
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cache_support::{Prefix, connect, eventually, raw};
use redis::AsyncCommands as _;
use serde::{Deserialize, Serialize};
use uno_redis::cache::{TwoLevelCache, TwoLevelError};
use uno_redis::{ConfigError, JsonCodec, PostcardCodec, Redis};

type Cache<C = JsonCodec> = TwoLevelCache<str, String, String, C>;

async fn cache(redis: &Redis, prefix: &Prefix) -> Cache {
    Cache::builder(redis, &prefix.name, JsonCodec)
        .ttl(Duration::from_secs(30))
        .lease_ttl(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(50))
        .build()
        .await
        .unwrap()
}

/// A fetch that counts its calls.
fn counted(
    calls: &Arc<AtomicU32>,
    value: &str,
) -> impl FnOnce() -> std::future::Ready<Result<String, String>> + Send + 'static {
    let (calls, value) = (calls.clone(), value.to_owned());
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(value))
    }
}

async fn wait_subscribed<C>(rt: &uno_core::Runtime, cache: &TwoLevelCache<str, String, String, C>) {
    eventually(rt, "subscribed", Duration::from_secs(10), || {
        std::future::ready(cache.is_subscribed())
    })
    .await;
}

cache_test!(l1_and_l2_hits_and_misses, |ctx| {
    let url = cache_support::redis_url().unwrap();
    let prefix = Prefix::new("hits");
    let redis = connect(&ctx.rt, &url).await;
    let (a, b) = (cache(&redis, &prefix).await, cache(&redis, &prefix).await);
    wait_subscribed(&ctx.rt, &a).await;
    wait_subscribed(&ctx.rt, &b).await;
    let calls = Arc::new(AtomicU32::new(0));

    // Miss everywhere: a fetches and fills both levels.
    assert_eq!(a.get("k", counted(&calls, "v1")).await.unwrap(), "v1");
    let stats = a.stats();
    assert_eq!((stats.l2_misses, stats.fetches, stats.l2_hits), (1, 1, 0));
    let mut conn = raw(&url).await;
    let stored: Vec<u8> = conn.get(prefix.value_key("k")).await.unwrap();
    assert_eq!(stored, br#""v1""#);
    let lease: Option<String> = conn.get(prefix.lease_key("k")).await.unwrap();
    assert_eq!(lease, None, "the fill drops the lease");
    // L1 hit in a: no Redis, no fetch.
    assert_eq!(a.get("k", counted(&calls, "other")).await.unwrap(), "v1");
    assert_eq!(a.stats().l1.hits, 1);
    // b's L1 misses, L2 hits: no fetch.
    assert_eq!(b.get("k", counted(&calls, "other")).await.unwrap(), "v1");
    assert_eq!((b.stats().l2_hits, b.stats().fetches), (1, 0));
    assert_eq!(b.peek_l1("k").as_deref(), Some("v1"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A fetch error is not cached, and releases the lease.
    let err = a
        .get("bad", || async { Err("db down".to_owned()) })
        .await
        .unwrap_err();
    assert_eq!(err.fetch_error().map(String::as_str), Some("db down"));
    let lease: Option<String> = conn.get(prefix.lease_key("bad")).await.unwrap();
    assert_eq!(lease, None);
    assert_eq!(a.get("bad", counted(&calls, "ok")).await.unwrap(), "ok");
});

cache_test!(ttls_expire_each_level, |ctx| {
    let url = cache_support::redis_url().unwrap();
    let prefix = Prefix::new("ttl");
    let redis = connect(&ctx.rt, &url).await;
    let cache = Cache::builder(&redis, &prefix.name, JsonCodec)
        .ttl(Duration::from_millis(600))
        .l1_ttl(Duration::from_millis(150))
        .build()
        .await
        .unwrap();
    wait_subscribed(&ctx.rt, &cache).await;
    let calls = Arc::new(AtomicU32::new(0));
    cache.get("k", counted(&calls, "v")).await.unwrap();
    ctx.rt.sleep(Duration::from_millis(250)).await; // L1 expired, L2 not
    assert_eq!(cache.peek_l1("k"), None);
    cache.get("k", counted(&calls, "v")).await.unwrap();
    assert_eq!(
        (cache.stats().l2_hits, calls.load(Ordering::SeqCst)),
        (1, 1)
    );
    let mut conn = raw(&url).await;
    let pttl: i64 = conn.pttl(prefix.value_key("k")).await.unwrap();
    assert!(pttl > 0 && pttl <= 600, "PX is the L2 ttl: {pttl}");
    ctx.rt.sleep(Duration::from_millis(700)).await; // both expired
    cache.get("k", counted(&calls, "v")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    roles: Vec<String>,
}

cache_test!(codecs_round_trip_and_report_errors, |ctx| {
    let url = cache_support::redis_url().unwrap();
    let prefix = Prefix::new("codec");
    let redis = connect(&ctx.rt, &url).await;
    let ada = Profile {
        id: 7,
        name: "ada".into(),
        roles: vec!["admin".into()],
    };

    // postcard: a round trip through a second instance (an L2 hit decodes what the first wrote).
    let binary =
        || TwoLevelCache::<u64, Profile, String, _>::builder(&redis, &prefix.name, PostcardCodec);
    let (a, b) = (
        binary().build().await.unwrap(),
        binary().build().await.unwrap(),
    );
    let value = ada.clone();
    assert_eq!(
        a.get(&7, move || async move { Ok(value) }).await.unwrap(),
        ada
    );
    assert_eq!(
        b.get(&7, || async { unreachable!("an L2 hit") })
            .await
            .unwrap(),
        ada
    );
    assert_eq!(b.stats().l2_hits, 1);

    // JSON over the postcard bytes: a typed decode error, not a panic.
    let json = TwoLevelCache::<u64, Profile, String, _>::builder(&redis, &prefix.name, JsonCodec)
        .build()
        .await
        .unwrap();
    let err = json
        .get(&7, || async { unreachable!("an L2 hit") })
        .await
        .unwrap_err();
    assert!(err.is_codec(), "{err:?}");
    assert!(matches!(&err, TwoLevelError::Codec { source, .. } if source.is_decode()));

    // A value with no JSON form: an encode error; the lease is released, nothing is stored.
    type Map = std::collections::BTreeMap<(u8, u8), u8>;
    let maps = TwoLevelCache::<str, Map, String, _>::builder(&redis, &prefix.name, JsonCodec)
        .build()
        .await
        .unwrap();
    let err = maps
        .get("map", || async { Ok(Map::from([((1, 2), 3)])) })
        .await
        .unwrap_err();
    assert!(matches!(&err, TwoLevelError::Codec { source, .. } if !source.is_decode()));
    let mut conn = raw(&url).await;
    let (value, lease): (Option<Vec<u8>>, Option<String>) = redis::pipe()
        .get(prefix.value_key("map"))
        .get(prefix.lease_key("map"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!((value, lease), (None, None));
});

cache_test!(bad_configuration_is_a_typed_error, |ctx| {
    let url = cache_support::redis_url().unwrap();
    let redis = connect(&ctx.rt, &url).await;
    let builder = || Cache::builder(&redis, "uno-test:config", JsonCodec);
    assert_eq!(
        Cache::builder(&redis, "", JsonCodec)
            .build()
            .await
            .unwrap_err(),
        ConfigError::EmptyKeyPrefix
    );
    assert_eq!(
        builder().ttl(Duration::ZERO).build().await.unwrap_err(),
        ConfigError::Zero { what: "cache ttl" }
    );
    assert_eq!(
        builder().max_capacity(0).build().await.unwrap_err(),
        ConfigError::Zero {
            what: "cache max_capacity"
        }
    );
    for (what, built) in [
        ("cache ttl", builder().ttl(Duration::MAX).build().await),
        (
            "cache l1_ttl",
            builder().l1_ttl(Duration::MAX).build().await,
        ),
        (
            "cache lease_ttl",
            builder().lease_ttl(Duration::MAX).build().await,
        ),
        (
            "cache poll_interval",
            builder().poll_interval(Duration::MAX).build().await,
        ),
        (
            "cache wait_timeout",
            builder().wait_timeout(Duration::MAX).build().await,
        ),
        (
            "cache recheck_after",
            builder().recheck_after(Duration::MAX).build().await,
        ),
        (
            "cache refresh_after",
            builder().refresh_after(Duration::MAX).build().await,
        ),
    ] {
        match built {
            Err(ConfigError::TooLong { what: got, .. }) => assert_eq!(got, what),
            other => panic!("{what}: {other:?}"),
        }
    }
    for zero in [
        builder().l1_ttl(Duration::ZERO).build().await,
        builder().lease_ttl(Duration::ZERO).build().await,
        builder().poll_interval(Duration::ZERO).build().await,
        builder().wait_timeout(Duration::ZERO).build().await,
        builder().refresh_after(Duration::ZERO).build().await,
        builder().recheck_after(Duration::ZERO).build().await,
    ] {
        assert!(matches!(zero, Err(ConfigError::Zero { .. })), "{zero:?}");
    }
    let secs = Duration::from_secs;
    for inconsistent in [
        builder().ttl(secs(5)).l1_ttl(secs(6)).build().await,
        builder().ttl(secs(5)).refresh_after(secs(5)).build().await,
        builder()
            .wait_timeout(secs(1))
            .poll_interval(secs(2))
            .build()
            .await,
    ] {
        assert!(
            matches!(inconsistent, Err(ConfigError::Inconsistent { .. })),
            "{inconsistent:?}"
        );
    }
});

cache_test!(refresh_ahead_is_done_by_one_instance, |ctx| {
    let url = cache_support::redis_url().unwrap();
    let prefix = Prefix::new("refresh");
    let redis = connect(&ctx.rt, &url).await;
    let mut instances: Vec<Cache> = Vec::new();
    for _ in 0..3 {
        let cache = Cache::builder(&redis, &prefix.name, JsonCodec)
            .ttl(Duration::from_secs(10))
            .l1_ttl(Duration::from_secs(5))
            .refresh_after(Duration::from_millis(300))
            .build()
            .await
            .unwrap();
        instances.push(cache);
    }
    for cache in &instances {
        wait_subscribed(&ctx.rt, cache).await;
    }
    let calls = Arc::new(AtomicU32::new(0));
    for cache in &instances {
        assert_eq!(cache.get("k", counted(&calls, "v1")).await.unwrap(), "v1");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    ctx.rt.sleep(Duration::from_millis(400)).await; // every L1 is in its refresh window
    for cache in &instances {
        // Served at once (the old value); each starts a background refresh.
        assert_eq!(cache.get("k", counted(&calls, "v2")).await.unwrap(), "v1");
    }
    eventually(
        &ctx.rt,
        "every L1 refreshed",
        Duration::from_secs(5),
        || {
            let all = instances
                .iter()
                .all(|c| c.peek_l1("k").as_deref() == Some("v2"));
            std::future::ready(all)
        },
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one refresh fetch in all");
    let shared: u64 = instances.iter().map(|c| c.stats().refreshes_shared).sum();
    let fetches: u64 = instances.iter().map(|c| c.stats().fetches).sum();
    assert_eq!(fetches, 2);
    assert_eq!(
        shared, 2,
        "the two other instances took the refreshed value"
    );
});

cache_test!(invalidate_reaches_every_instance, |ctx| {
    let url = cache_support::redis_url().unwrap();
    let prefix = Prefix::new("invalidate");
    let redis = connect(&ctx.rt, &url).await;
    let (a, b) = (cache(&redis, &prefix).await, cache(&redis, &prefix).await);
    wait_subscribed(&ctx.rt, &a).await;
    wait_subscribed(&ctx.rt, &b).await;
    let calls = Arc::new(AtomicU32::new(0));
    a.get("k", counted(&calls, "v1")).await.unwrap();
    b.get("k", counted(&calls, "v1")).await.unwrap();
    assert_eq!(b.peek_l1("k").as_deref(), Some("v1"));
    a.invalidate("k").await.unwrap();
    assert_eq!(
        a.peek_l1("k"),
        None,
        "the invalidating instance drops it at once"
    );
    eventually(&ctx.rt, "b's L1 dropped k", Duration::from_secs(2), || {
        std::future::ready(b.peek_l1("k").is_none())
    })
    .await;
    assert!(b.stats().invalidations_received >= 1);
    let mut conn = raw(&url).await;
    let stored: Option<Vec<u8>> = conn.get(prefix.value_key("k")).await.unwrap();
    assert_eq!(stored, None);
    assert_eq!(b.get("k", counted(&calls, "v2")).await.unwrap(), "v2");
});

cache_test!(a_dead_holders_lease_is_taken_over, |ctx| {
    let url = cache_support::redis_url().unwrap();
    let prefix = Prefix::new("takeover");
    let redis = connect(&ctx.rt, &url).await;
    let cache = cache(&redis, &prefix).await;
    let mut conn = raw(&url).await;
    // A holder that took the lease and died: nobody renews it, it expires in 300 ms.
    let _: () = redis::cmd("SET")
        .arg(prefix.lease_key("k"))
        .arg("dead")
        .arg("PX")
        .arg(300)
        .query_async(&mut conn)
        .await
        .unwrap();
    let start = ctx.rt.now();
    let calls = Arc::new(AtomicU32::new(0));
    assert_eq!(cache.get("k", counted(&calls, "v")).await.unwrap(), "v");
    let took = ctx.rt.now() - start;
    assert!(
        took >= Duration::from_millis(250),
        "waited for the expiry: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "took over promptly: {took:?}"
    );
    let stats = cache.stats();
    assert_eq!((stats.waits, stats.takeovers, stats.fetches), (1, 1, 1));
    assert_eq!(cache.keys_waited_on(), 0);
});

cache_test!(waiting_is_bounded_by_the_wait_timeout, |ctx| {
    let url = cache_support::redis_url().unwrap();
    let prefix = Prefix::new("deadline");
    let redis = connect(&ctx.rt, &url).await;
    let cache = Cache::builder(&redis, &prefix.name, JsonCodec)
        .lease_ttl(Duration::from_secs(30))
        .poll_interval(Duration::from_millis(50))
        .wait_timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let mut conn = raw(&url).await;
    // A holder that hangs with a live lease.
    let _: () = conn
        .set_ex(prefix.lease_key("k"), "hung", 30)
        .await
        .unwrap();
    let start = ctx.rt.now();
    let err = cache
        .get("k", || async { Ok::<_, String>("never".to_owned()) })
        .await
        .unwrap_err();
    let took = ctx.rt.now() - start;
    assert!(err.is_wait_timeout(), "{err:?}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(cache.keys_waited_on(), 0);
    let lease: String = conn.get(prefix.lease_key("k")).await.unwrap();
    assert_eq!(lease, "hung", "a waiter never touches another's lease");
});

cache_test!(a_panicking_fetch_releases_the_lease, |ctx| {
    let url = cache_support::redis_url().unwrap();
    let prefix = Prefix::new("panic");
    let redis = connect(&ctx.rt, &url).await;
    let cache = cache(&redis, &prefix).await;
    let err = cache
        .get("k", || async { panic!("bug in the loader") })
        .await
        .unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    let err = cache.get("k2", || -> std::future::Ready<Result<String, String>> {
        panic!("bug in the closure")
    });
    assert!(err.await.unwrap_err().is_panic());
    let mut conn = raw(&url).await;
    eventually(
        &ctx.rt,
        "the leases are released",
        Duration::from_secs(2),
        || {
            let mut conn = conn.clone();
            let keys = [prefix.lease_key("k"), prefix.lease_key("k2")];
            async move { conn.exists::<_, u32>(&keys).await.unwrap() == 0 }
        },
    )
    .await;
    let calls = Arc::new(AtomicU32::new(0));
    assert_eq!(cache.get("k", counted(&calls, "v")).await.unwrap(), "v");
    let _: Option<String> = conn.get(prefix.lease_key("k")).await.unwrap();
});

cache_test!(cancelled_readers_leak_no_lease_and_no_wait, |ctx| {
    let url = cache_support::redis_url().unwrap();
    let prefix = Prefix::new("cancel");
    let redis = connect(&ctx.rt, &url).await;
    let (holder, reader) = (cache(&redis, &prefix).await, cache(&redis, &prefix).await);
    wait_subscribed(&ctx.rt, &holder).await;
    wait_subscribed(&ctx.rt, &reader).await;
    let mut conn = raw(&url).await;
    for polls in 0..8 {
        let key = format!("k{polls}");
        // The holder's fetch is slow, so the reader's load waits on it.
        let slow = holder.clone();
        let holder_key = key.clone();
        let rt = ctx.rt.clone();
        let filled = ctx.rt.spawn(async move {
            slow.get(&holder_key, move || async move {
                rt.sleep(Duration::from_millis(150)).await;
                Ok::<_, String>("held".to_owned())
            })
            .await
        });
        eventually(
            &ctx.rt,
            "the holder took the lease",
            Duration::from_secs(2),
            || {
                let mut conn = conn.clone();
                let lease = prefix.lease_key(&key);
                async move { conn.exists::<_, bool>(lease).await.unwrap() }
            },
        )
        .await;
        // The reader gives up after `polls` polls, wherever its load was.
        let gave_up = poll_then_drop(reader.get(&key, || async { Ok("mine".to_owned()) }), polls);
        assert!(gave_up.await.is_none());
        // As the owner, cancelled at each await point, too.
        let own = format!("own{polls}");
        let mine = poll_then_drop(reader.get(&own, || async { Ok("mine".to_owned()) }), polls);
        let _ = mine.await;

        assert_eq!(filled.await.unwrap().unwrap(), "held");
        eventually(
            &ctx.rt,
            "the abandoned loads finished",
            Duration::from_secs(3),
            || std::future::ready(reader.keys_waited_on() == 0),
        )
        .await;
        // Both loads ran to the end in their own tasks: values stored, leases gone.
        eventually(&ctx.rt, "no lease is left", Duration::from_secs(3), || {
            let mut conn = conn.clone();
            let keys = [prefix.lease_key(&key), prefix.lease_key(&own)];
            async move { conn.exists::<_, u32>(&keys).await.unwrap() == 0 }
        })
        .await;
        assert_eq!(
            reader.get(&key, || async { unreachable!() }).await.unwrap(),
            "held"
        );
        assert_eq!(
            reader
                .get(&own, || async { Ok("mine".to_owned()) })
                .await
                .unwrap(),
            "mine"
        );
    }
    let _ = &mut conn;
});

/// Polls `future` `polls` times (yielding between), then drops it; `Some` if it finished.
async fn poll_then_drop<F: std::future::Future>(future: F, polls: usize) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    for _ in 0..polls {
        if let Some(out) = futures_lite::future::poll_once(future.as_mut()).await {
            return Some(out);
        }
        uno_core::task::yield_now().await;
    }
    None
}

#[test]
fn public_types_are_send_sync_and_unpin() {
    fn check<T: Send + Sync + Unpin>() {}
    check::<TwoLevelCache<str, String, String, JsonCodec>>();
    check::<TwoLevelCache<u64, Profile, std::io::Error, PostcardCodec>>();
    check::<uno_redis::cache::TwoLevelCacheBuilder<str, String, String, JsonCodec>>();
    check::<TwoLevelError<std::io::Error>>();
    check::<uno_redis::cache::TwoLevelStats>();
    check::<uno_redis::CodecError>();
    fn get_is_send(cache: &Cache) -> impl Send + '_ {
        cache.get("k", || async { Ok("v".to_owned()) })
    }
    fn invalidate_is_send(cache: &Cache) -> impl Send + '_ {
        cache.invalidate("k")
    }
    let _ = (get_is_send, invalidate_is_send);
}
