//! hyper on `VirtualRuntime` over `mem::duplex`: uno's timeouts and retries around a hyper client,
//! and hyper's own timers (the server's header-read timeout, HTTP/2 keep-alive pings) driven by
//! `UnoTimer`, all exact in virtual time.

mod common;

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Routes, client_h1, get, serve_h1, summary};
use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use http_body_util::Full;
use hyper::rt::{Executor, Sleep, Timer};
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use uno_core::resilience::{Backoff, ResilienceError, Retry, TimeoutPolicy};
use uno_core::rt::{Runtime, VirtualRuntime};
use uno_hyper::{UnoExecutor, UnoIo, UnoTimer, mem};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn a_timeout_policy_around_a_hyper_call_is_exact() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    vrt.block_on(async move {
        let exec = UnoExecutor::new(rt.clone());
        let routes = Routes::new(&rt);
        let (client, server) = mem::duplex(4096).unwrap();
        exec.execute(serve_h1(&rt, server, &routes));
        let mut send = client_h1(&exec, client).await.unwrap();
        let limit = TimeoutPolicy::builder(&rt, Duration::from_secs(1))
            .message("GET /sleep/5000")
            .build()
            .unwrap();
        let start = rt.now();
        let err = limit
            .run(|| send.send_request(get("/sleep/5000")))
            .await
            .unwrap_err();
        assert!(err.is_timeout());
        assert_eq!(err.to_string(), "GET /sleep/5000: timed out after 1s");
        assert_eq!(rt.now() - start, Duration::from_secs(1));
        assert_eq!(routes.calls(), 1);
    });
}

/// Why an attempt failed.
#[derive(Debug)]
enum CallError {
    Http(hyper::Error),
    Status(StatusCode),
}

#[test]
fn retries_with_backoff_and_a_per_attempt_timeout_are_exact() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    vrt.block_on(async move {
        let exec = UnoExecutor::new(rt.clone());
        // The server: the first call hangs for 5 s, the second answers 503, the third 200.
        let calls = Arc::new(AtomicUsize::new(0));
        let connect = || {
            let (client, server) = mem::duplex(4096).unwrap();
            let (sleeper, calls) = (rt.clone(), calls.clone());
            let flaky = service_fn(move |_req| {
                let (rt, call) = (sleeper.clone(), calls.fetch_add(1, Ordering::SeqCst) + 1);
                async move {
                    let status = match call {
                        1 => {
                            rt.sleep(Duration::from_secs(5)).await;
                            StatusCode::OK
                        }
                        2 => StatusCode::SERVICE_UNAVAILABLE,
                        _ => StatusCode::OK,
                    };
                    let mut response =
                        Response::new(Full::new(Bytes::from(format!("call {call}"))));
                    *response.status_mut() = status;
                    Ok::<_, Infallible>(response)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(UnoTimer::new(rt.clone()))
                .serve_connection(UnoIo::new(server), flaky);
            exec.execute(conn);
            client
        };

        let retry = Retry::builder(&rt)
            .max_attempts(4)
            .backoff(Backoff::exponential(Duration::from_millis(100), 2.0))
            .retry_if(|e: &CallError| match e {
                CallError::Status(status) => status.is_server_error(),
                CallError::Http(err) => err.is_incomplete_message(), // dropped mid-call
            })
            .build()
            .unwrap();
        let per_attempt = TimeoutPolicy::builder(&rt, Duration::from_secs(1))
            .build()
            .unwrap();
        let start = rt.now();
        let attempts_at = Mutex::new(Vec::new());
        let body = retry
            .run_flat(|| {
                attempts_at.lock().unwrap().push(rt.now() - start);
                // Each attempt on a fresh connection: an abandoned HTTP/1 call spoils its own.
                let client = connect();
                let exec = exec.clone();
                per_attempt.run(move || async move {
                    let mut send = client_h1(&exec, client).await.map_err(CallError::Http)?;
                    let response = send.send_request(get("/")).await.map_err(CallError::Http)?;
                    if response.status().is_server_error() {
                        return Err(CallError::Status(response.status()));
                    }
                    summary(response).await.map_err(CallError::Http)
                })
            })
            .await
            .unwrap();
        assert_eq!(body, "200 call 3");
        // Attempt 1 times out at 1 s, backoff 100 ms; attempt 2 gets a 503 at once, backoff 200 ms.
        assert_eq!(
            *attempts_at.lock().unwrap(),
            [secs(0.0), secs(1.1), secs(1.3)]
        );
        assert_eq!(rt.now() - start, secs(1.3));
        assert_eq!(retry.stats().retries, 2);
    });
}

#[test]
fn retries_that_run_out_say_how_many_attempts_were_made() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    vrt.block_on(async move {
        let exec = UnoExecutor::new(rt.clone());
        let routes = Routes::new(&rt);
        let retry = Retry::<hyper::Error>::builder(&rt)
            .max_attempts(3)
            .backoff(Backoff::constant(Duration::from_millis(250)))
            .build()
            .unwrap();
        let per_attempt = TimeoutPolicy::builder(&rt, Duration::from_millis(500))
            .build()
            .unwrap();
        let start = rt.now();
        let err = retry
            .run_flat(|| {
                let (client, server) = mem::duplex(4096).unwrap();
                exec.execute(serve_h1(&rt, server, &routes));
                let exec = exec.clone();
                per_attempt.run(move || async move {
                    let mut send = client_h1(&exec, client).await?;
                    send.send_request(get("/sleep/60000")).await
                })
            })
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ResilienceError::RetriesExhausted { attempts: 3, .. }
        ));
        // Three timed-out attempts of 500 ms and two backoffs of 250 ms.
        assert_eq!(rt.now() - start, secs(2.0));
        assert_eq!(routes.calls(), 3);
    });
}

#[test]
fn the_header_read_timeout_closes_a_stalled_client_exactly() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    vrt.block_on(async move {
        let routes = Routes::new(&rt);
        let (mut client, server) = mem::duplex(4096).unwrap();
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(UnoTimer::new(rt.clone()))
            .header_read_timeout(Duration::from_secs(3))
            .serve_connection(UnoIo::new(server), routes.clone().service());
        let start = rt.now();
        let server = rt.spawn(conn);
        // Half a request head, then nothing: a slow-loris client.
        client
            .write_all(b"GET /hello HTTP/1.1\r\nHost: uno\r\n")
            .await
            .unwrap();
        let err = server.await.unwrap().unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(rt.now() - start, Duration::from_secs(3));
        // The server dropped the connection: the client reads end-of-file.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert_eq!(routes.calls(), 0);
    });
}

#[test]
fn an_idle_keep_alive_connection_ends_at_the_header_read_timeout() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    vrt.block_on(async move {
        let routes = Routes::new(&rt);
        let (client, server) = mem::duplex(4096).unwrap();
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(UnoTimer::new(rt.clone()))
            .header_read_timeout(Duration::from_secs(3))
            .serve_connection(UnoIo::new(server), routes.clone().service());
        let server = rt.spawn(conn);
        let (mut send, client_conn) = hyper::client::conn::http1::handshake(UnoIo::new(client))
            .await
            .unwrap();
        let client_conn = rt.spawn(client_conn);

        // Two calls 2 s apart: each head arrives within the limit, each starts a new wait.
        let start = rt.now();
        for at in [0, 2] {
            rt.sleep_until(start + Duration::from_secs(at)).await;
            let response = send.send_request(get("/sleep/500")).await.unwrap();
            assert_eq!(summary(response).await.unwrap(), "200 slept 500ms");
        }
        // Then idle: the server gives up 3 s after it began waiting for the next head.
        let err = server.await.unwrap().unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(rt.now() - start, secs(2.5 + 3.0));
        client_conn.await.unwrap().unwrap(); // a clean close for the client
        assert!(send.ready().await.is_err());
    });
}

/// A timer over [`UnoTimer`] that counts the sleeps hyper makes and its resets, and checks that
/// every reset kept the sleep in place.
#[derive(Clone)]
struct Watched {
    inner: UnoTimer,
    sleeps: Arc<AtomicUsize>,
    resets: Arc<AtomicUsize>,
    moved: Arc<AtomicUsize>,
}

impl Watched {
    fn new(rt: &Runtime) -> Self {
        Watched {
            inner: UnoTimer::new(rt.clone()),
            sleeps: Arc::default(),
            resets: Arc::default(),
            moved: Arc::default(),
        }
    }
}

impl Timer for Watched {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleeps.fetch_add(1, Ordering::SeqCst);
        self.inner.sleep(duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        self.sleeps.fetch_add(1, Ordering::SeqCst);
        self.inner.sleep_until(deadline)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        let address = |s: &Pin<Box<dyn Sleep>>| (&**s as *const dyn Sleep).cast::<()>();
        let before = address(sleep);
        self.inner.reset(sleep, new_deadline);
        self.resets.fetch_add(1, Ordering::SeqCst);
        if address(sleep) != before {
            self.moved.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A stream whose reads can be frozen: a peer that stops answering but keeps the socket open.
struct Freezable<S> {
    inner: S,
    frozen: Arc<AtomicBool>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Freezable<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.frozen.load(Ordering::SeqCst) {
            return Poll::Pending; // and never woken: the peer is hung
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Freezable<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[test]
fn http2_keep_alive_pings_reset_one_sleep_in_place_and_time_out_exactly() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    vrt.block_on(async move {
        let exec = UnoExecutor::new(rt.clone());
        let routes = Routes::new(&rt);
        let (client, server) = mem::duplex(64 * 1024).unwrap();
        let frozen = Arc::new(AtomicBool::new(false));
        let server = Freezable {
            inner: server,
            frozen: frozen.clone(),
        };
        let counting = common::Counting::new(&rt);
        exec.execute(common::serve_h2(&rt, counting, server, &routes));

        let timer = Watched::new(&rt);
        let (mut send, conn) = hyper::client::conn::http2::Builder::new(exec.clone())
            .timer(timer.clone())
            .keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true)
            .handshake(UnoIo::new(client))
            .await
            .unwrap();
        let conn = rt.spawn(conn);
        let start = rt.now();
        let response = send.send_request(get("/hello")).await.unwrap();
        assert_eq!(summary(response).await.unwrap(), "200 hello");

        // 35 s idle: pings at 10, 20 and 30 s, each answered.
        rt.sleep(Duration::from_secs(35)).await;
        assert!(!conn.is_finished());
        // The server hangs: the ping at 40 s goes unanswered, and 5 s later the client gives up.
        frozen.store(true, Ordering::SeqCst);
        let err = conn.await.unwrap().unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(rt.now() - start, Duration::from_secs(45));

        // hyper made one keep-alive sleep and moved it at every step (at least once for each of
        // the four pings), in place.
        assert_eq!(timer.sleeps.load(Ordering::SeqCst), 1);
        assert!(
            timer.resets.load(Ordering::SeqCst) >= 4,
            "resets: {:?}",
            timer.resets
        );
        assert_eq!(timer.moved.load(Ordering::SeqCst), 0);
    });
}
