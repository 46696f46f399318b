//! Shared helpers of the cache tests: one body on four runtimes, the Redis under test
//! (`UNO_TEST_REDIS_URL`), a key prefix per test that is deleted afterwards, child processes
//! (the test binary run again in a role), and a Redis server of our own to stop and start.

#![allow(dead_code, unreachable_pub)] // each test file uses a different subset

use std::future::Future;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use uno_core::Runtime;
use uno_core::resilience::{Backoff, Retry};
use uno_redis::Redis;

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
                $crate::cache_support::redis_url()?;
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

/// The Redis under test, or `None` (after saying so) when `UNO_TEST_REDIS_URL` is unset.
pub fn redis_url() -> Option<String> {
    match std::env::var("UNO_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipped: UNO_TEST_REDIS_URL is not set");
            None
        }
    }
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

/// A direct connection (redis-rs, no uno) for arranging and checking what is in Redis.
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
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

/// The role this process plays, when a test re-ran its own binary as a child.
pub fn role() -> Option<String> {
    std::env::var("UNO_CACHE_TEST_ROLE").ok()
}

/// Runs this test binary again for test `test` only, in `role`, sharing the cache name `name`.
pub fn spawn_child(test: &str, role: &str, name: &str, index: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("UNO_CACHE_TEST_ROLE", role)
        .env("UNO_CACHE_TEST_NAME", name)
        .env("UNO_CACHE_TEST_INDEX", index.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test binary runs again")
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

/// A `redis-server` of this test's own on a free port, killed (in every path) when dropped.
pub struct OwnRedis {
    pub port: u16,
    pidfile: String,
}

impl OwnRedis {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = OwnRedis {
            port,
            pidfile: format!("/tmp/uno-cache-test-{port}.pid"),
        };
        server.run();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn run(&self) {
        let status = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "yes"])
            .args(["--pidfile", &self.pidfile, "--dir", "/tmp"])
            .stdout(Stdio::null())
            .status()
            .expect("redis-server is installed");
        assert!(status.success());
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "own redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the server (SIGKILL: no goodbye to the clients) and waits until the port refuses.
    pub fn stop(&self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pidfile) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
        let _ = std::fs::remove_file(&self.pidfile);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "own redis-server did not stop"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts it again on the same port (empty).
    pub fn restart(&self) {
        self.run();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
