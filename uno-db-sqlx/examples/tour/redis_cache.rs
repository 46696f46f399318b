//! The two-level cache section of uno's tour (the Redis section calls [`tour_section`]): two
//! instances of one cache, as two replicas of a service would hold, sharing Redis. Runs when
//! Redis is reachable (`UNO_TOUR_REDIS_URL`, else `UNO_TEST_REDIS_URL`, else 127.0.0.1:6379)
//! and says so when it is not.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use uno_core::Runtime;
use uno_core::resilience::Retry;
use uno_redis::cache::TwoLevelCache;
use uno_redis::{JsonCodec, Redis};

type Profiles = TwoLevelCache<u64, String, String, JsonCodec>;

/// Shows one fetch for two replicas missing the same key at once, an L2 hit, and an
/// invalidation reaching the other replica's memory.
pub(crate) async fn tour_section(rt: &Runtime) {
    let url = std::env::var("UNO_TOUR_REDIS_URL")
        .or_else(|_| std::env::var("UNO_TEST_REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let once = Retry::builder(rt)
        .max_attempts(1)
        .build()
        .expect("one attempt is valid");
    let built = Redis::builder(rt, &url)
        .call_timeout(Duration::from_secs(1))
        .reconnect(once)
        .build()
        .await;
    let Ok(redis) = built else {
        println!("  redis cache: Redis is not reachable at {url}: section skipped");
        return;
    };
    let name = format!(
        "uno-tour:profiles:{}:{:x}",
        std::process::id(),
        unique_suffix()
    );
    let replica = || {
        Profiles::builder(&redis, &name, JsonCodec)
            .ttl(Duration::from_secs(60))
            .l1_ttl(Duration::from_secs(10))
            .build()
    };
    let (Ok(a), Ok(b)) = (replica().await, replica().await) else {
        println!("  redis cache: could not build the cache");
        return;
    };

    let fetches = Arc::new(AtomicU32::new(0));
    let fetch = || {
        let (fetches, rt) = (fetches.clone(), rt.clone());
        move || async move {
            fetches.fetch_add(1, Ordering::SeqCst);
            rt.sleep(Duration::from_millis(50)).await; // the database is slow
            Ok::<_, String>("ada".to_owned())
        }
    };
    let (from_a, from_b) = futures_lite::future::zip(a.get(&7, fetch()), b.get(&7, fetch())).await;
    println!(
        "  redis cache: two replicas missed key 7 at once -> {:?} / {:?}, fetched {} time(s)",
        from_a.as_deref(),
        from_b.as_deref(),
        fetches.load(Ordering::SeqCst)
    );
    let (sa, sb) = (a.stats(), b.stats());
    println!(
        "  redis cache: one held the lease and fetched ({} + {}), the other waited for its fill ({} + {})",
        sa.fetches, sb.fetches, sa.waits, sb.waits
    );

    let start = rt.now();
    if a.invalidate(&7).await.is_ok() {
        while b.peek_l1(&7).is_some() && rt.now() - start < Duration::from_secs(2) {
            rt.sleep(Duration::from_millis(1)).await;
        }
        println!(
            "  redis cache: replica a invalidated key 7 -> replica b's memory dropped it after {:?}",
            rt.now() - start
        );
    }
}

/// A little uniqueness for the tour's key prefix (two tours at once do not share keys).
fn unique_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
