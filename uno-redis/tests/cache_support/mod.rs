//! Helpers of the cache tests, over the crate's shared ones (`tests/common`): one body as four
//! `#[test]`s (one per runtime, so a child process can re-run exactly one), a key prefix per
//! test that is deleted afterwards, children that share it, and their reaping.

#![allow(dead_code, unreachable_pub)] // each test file uses a different subset

use std::future::Future;
use std::process::Child;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uno_core::Runtime;
use uno_core::resilience::{Backoff, Retry};
use uno_redis::Redis;

// The crate's shared test helpers (tests/common, helper `redis`): one copy of each.
#[allow(unused_imports)] // each test file uses a part
pub use crate::common::{PrivateRedis, raw, redis_url, role, spawn_role};

/// What a test body gets: the runtime it runs on, and its own libtest path (for re-running it
/// as a child process).
pub struct Ctx {
    pub rt: Runtime,
    pub test: &'static str,
}

/// Expands one async body `|ctx| { … }` into four `#[test]`s: tokio current-thread, tokio
/// multi-thread, smol, async-std. The body is skipped with a message when
/// `UNO_TEST_REDIS_URL` is unset.
#[macro_export]
macro_rules! cache_test {
    ($name:ident, |$ctx:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($ctx: $crate::cache_support::Ctx) $body

            fn ctx(rt: uno_core::Runtime, backend: &str) -> Option<$crate::cache_support::Ctx> {
                $crate::common::redis_url()?;
                let test = format!("{}::{backend}", stringify!($name));
                Some($crate::cache_support::Ctx { rt, test: Box::leak(test.into_boxed_str()) })
            }

            #[test]
            fn tokio_current_thread() {
                let tokio = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let rt = uno_tokio::runtime_from(tokio.handle().clone()).unwrap();
                if let Some(ctx) = ctx(rt, "tokio_current_thread") {
                    tokio.block_on(body(ctx));
                }
            }

            #[test]
            fn tokio_multi_thread() {
                let tokio = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                let rt = uno_tokio::runtime_from(tokio.handle().clone()).unwrap();
                if let Some(ctx) = ctx(rt, "tokio_multi_thread") {
                    tokio.block_on(body(ctx));
                }
            }

            #[test]
            fn smol() {
                if let Some(ctx) = ctx(uno_smol::runtime(), "smol") {
                    uno_smol::block_on(body(ctx));
                }
            }

            #[test]
            fn async_std() {
                if let Some(ctx) = ctx(uno_async_std::runtime(), "async_std") {
                    uno_async_std::block_on(body(ctx));
                }
            }
        }
    };
}

/// A client for `url`, with a call timeout generous for a loaded machine.
pub async fn connect(rt: &Runtime, url: &str) -> Redis {
    connect_within(rt, url, Duration::from_secs(2)).await
}

/// A client for `url` with the call timeout `timeout` (short, for a server that will die).
pub async fn connect_within(rt: &Runtime, url: &str, timeout: Duration) -> Redis {
    Redis::builder(rt, url)
        .call_timeout(timeout)
        .reconnect(
            Retry::builder(rt)
                .max_attempts(2)
                .backoff(Backoff::constant(Duration::from_millis(20)))
                .build()
                .unwrap(),
        )
        .build()
        .await
        .expect("the Redis under test is reachable")
}

/// A cache name (key prefix) of its own for one test run; its keys are deleted on drop.
pub struct Prefix {
    pub name: String,
    url: String,
}

impl Prefix {
    pub fn new(test: &str) -> Self {
        let name = std::env::var("UNO_CACHE_TEST_NAME").unwrap_or_else(|_| {
            format!(
                "uno-test:cache:{test}:{}:{:x}",
                std::process::id(),
                fastrand::u32(..)
            )
        });
        Prefix {
            name,
            url: redis_url().expect("checked by the test macro"),
        }
    }

    /// The Redis key holding `key`'s value, as the cache writes it.
    pub fn value_key(&self, key: &str) -> String {
        format!("{}:v:{key}", self.name)
    }

    /// The Redis key of `key`'s lease.
    pub fn lease_key(&self, key: &str) -> String {
        format!("{}:l:{key}", self.name)
    }

    /// A key of the test's own under the prefix (counters, flags).
    pub fn aux(&self, what: &str) -> String {
        format!("{}:test:{what}", self.name)
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        // Child processes share their parent's prefix: the parent cleans up.
        if std::env::var("UNO_CACHE_TEST_NAME").is_ok() {
            return;
        }
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let pattern = format!("{}:*", self.name);
        let keys: Vec<String> = match redis::cmd("KEYS").arg(&pattern).query(&mut conn) {
            Ok(keys) => keys,
            Err(_) => return,
        };
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(&keys).query(&mut conn);
        }
    }
}

/// Waits (on the runtime's clock) until `condition` holds; panics after `limit`.
pub async fn eventually<F, Fut>(rt: &Runtime, what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = rt.now();
    while !condition().await {
        assert!(rt.now() - start < limit, "{what}: not within {limit:?}");
        rt.sleep(Duration::from_millis(5)).await;
    }
}

/// Runs this test binary again for test `test` only, in `role`, sharing the cache name `name`.
pub fn spawn_child(test: &str, role: &str, name: &str, index: usize) -> Child {
    spawn_role(
        test,
        role,
        &[
            ("UNO_CACHE_TEST_NAME", name.to_owned()),
            ("UNO_CACHE_TEST_INDEX", index.to_string()),
        ],
    )
}

/// This child's index among its siblings.
pub fn child_index() -> usize {
    std::env::var("UNO_CACHE_TEST_INDEX")
        .unwrap()
        .parse()
        .unwrap()
}

/// Kills and reaps every child still running when dropped (a failed assertion included).
pub struct Children(pub Vec<Child>);

impl Children {
    /// Waits for every child (on the runtime's clock, up to `limit`), asserting each succeeded;
    /// returns their stdouts.
    pub async fn join(&mut self, rt: &Runtime, limit: Duration) -> Vec<String> {
        let start = rt.now();
        let mut outputs = Vec::new();
        for child in &mut self.0 {
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                if rt.now() - start > limit {
                    let _ = child.kill();
                    panic!("a child process did not finish within {limit:?}");
                }
                rt.sleep(Duration::from_millis(10)).await;
            };
            let mut stdout = String::new();
            let mut stderr = String::new();
            use std::io::Read as _;
            if let Some(out) = child.stdout.as_mut() {
                let _ = out.read_to_string(&mut stdout);
            }
            if let Some(err) = child.stderr.as_mut() {
                let _ = err.read_to_string(&mut stderr);
            }
            assert!(
                status.success(),
                "a child failed ({status}):\n{stdout}\n{stderr}"
            );
            outputs.push(stdout);
        }
        outputs
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Microseconds since the Unix epoch: one clock for every process on this machine.
pub fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}
