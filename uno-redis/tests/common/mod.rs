//! Shared helpers: the Redis URL (or the skip), the backends every scenario runs on, unique key
//! prefixes, a private redis-server for fault tests, and re-executing this test binary as a
//! child process in a role.

#![allow(dead_code, unreachable_pub)] // each test file uses a part

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use uno_core::Runtime;

pub type Scenario = fn(Runtime, String) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// The shared server's URL, or `None` after printing the skip message.
pub fn redis_url() -> Option<String> {
    match std::env::var("UNO_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipped: UNO_TEST_REDIS_URL is not set");
            None
        }
    }
}

/// Runs `scenario` on tokio (current-thread and multi-thread), smol and async-std, in turn.
pub fn on_every_backend(url: &str, scenario: Scenario) {
    for backend in [
        "tokio-current-thread",
        "tokio-multi-thread",
        "smol",
        "async-std",
    ] {
        on_backend(backend, url, scenario);
    }
}

pub fn on_backend(backend: &str, url: &str, scenario: Scenario) {
    let url = url.to_owned();
    match backend {
        "tokio-current-thread" => {
            let tokio = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let rt = uno_tokio::runtime_from(tokio.handle().clone()).unwrap();
            tokio.block_on(scenario(rt, url));
        }
        "tokio-multi-thread" => {
            uno_tokio::run(|rt| scenario(rt, url)).unwrap();
        }
        "smol" => uno_smol::run(|rt| scenario(rt, url)),
        "async-std" => uno_async_std::run(|rt| scenario(rt, url)),
        other => panic!("unknown backend {other}"),
    }
}

/// A client of the shared server named "test", for the scenarios that need one.
pub async fn client(rt: &Runtime, url: &str) -> uno_redis::Redis {
    uno_redis::Redis::builder(rt, url)
        .name("test")
        .build()
        .await
        .unwrap()
}

/// A key prefix no other test (or run) shares.
pub fn prefix(test: &str) -> String {
    format!(
        "uno-test:{test}:{}:{}",
        std::process::id(),
        fastrand::u64(..)
    )
}

/// Deletes every key under `prefix` (SCAN + DEL; the shared server is never flushed).
pub async fn delete_prefix(redis_url: &str, prefix: &str) {
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

/// A raw connection for assertions (PTTL, GET) beside the code under test.
pub async fn raw(redis_url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A private redis-server on a free port, stopped (killed) when dropped, on every path.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = PrivateRedis { port, child: None };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (in the foreground of a child process, so its pid is ours to kill).
    pub fn restart(&mut self) {
        assert!(self.child.is_none());
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Re-executes this test binary running only `test`, with `UNO_TEST_ROLE=role` and `envs`.
pub fn spawn_role(test: &str, role: &str, envs: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("UNO_TEST_ROLE", role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// The role this process was started in, if it is a child.
pub fn role() -> Option<String> {
    std::env::var("UNO_TEST_ROLE").ok()
}

/// Prints `value` under `tag` for the parent (after a marker: libtest may have started the
/// line with the test's name).
pub fn tell(tag: &str, value: impl std::fmt::Display) {
    println!("\n@{tag}={value}");
}

/// What a child last [`tell`]s under `tag` in `output`.
pub fn report(output: &str, tag: &str) -> Option<String> {
    output.lines().rev().find_map(|l| told(l, tag))
}

/// The value of `line` if it tells `tag`.
pub fn told(line: &str, tag: &str) -> Option<String> {
    let marker = format!("@{tag}=");
    line.find(&marker)
        .map(|at| line[at + marker.len()..].trim().to_owned())
}
