//! One hyper service and client, written once, run through uno-hyper on every backend: tokio
//! current-thread and multi-thread, smol and async-std over loopback TCP (each runtime's own
//! `TcpStream`), and `VirtualRuntime` over `mem::duplex`. Every backend must write the same
//! transcript.

mod common;

use std::time::Duration;

use common::{
    AsyncStd, Backend, Counting, Routes, Smol, TokioCurrentThread, TokioMultiThread, Virtual,
    client_h1, client_h2, get, kind, post, serve_h1, serve_h2, summary,
};
use hyper::rt::Executor;
use uno_core::rt::Runtime;
use uno_hyper::UnoExecutor;

/// What every backend must observe, in order.
const TRANSCRIPT: &[&str] = &[
    // One keep-alive HTTP/1 connection, four calls.
    "h1: 200 hello",
    "h1: 200 0123456789012345678901234567890123456789... (300000 bytes)",
    "h1: 200 slept 20ms",
    "h1: 404 no such route",
    // A client-side timeout (uno's) while the server sleeps.
    "timeout: slow call: timed out after 50ms",
    // A handler that panics: its connection task ends alone, the client gets a typed error.
    "panic: incomplete message",
    "after the panic: 200 hello",
    // The same panic, with the connection spawned by hand: its Task reports the payload.
    "the connection's task: panicked: the handler panicked",
    // The server dies mid-call (its connection task is cancelled): a typed error, no hang.
    "server died: incomplete message",
    "the dead connection: closed",
    // Four HTTP/1 connections at once, three calls each.
    "4 connections: 12 x 200",
    // One HTTP/2 connection, 16 concurrent streams, each spawned by hyper through the executor.
    "h2: 16 streams echoed in order",
    "h2: the executor ran every stream",
    // A stream whose handler panics ends alone: the connection and its next stream go on.
    "h2: the panicking stream: reset by the server (CANCEL)",
    "h2: the next stream: 200 hello",
];

/// A body large enough to fill the loopback and duplex buffers several times over.
fn big_body() -> String {
    (0..300_000)
        .map(|i| char::from(b'0' + (i % 10) as u8))
        .collect()
}

async fn scenario<B: Backend>(rt: Runtime) -> Vec<String> {
    let mut log = Vec::new();
    let exec = UnoExecutor::new(rt.clone());

    // Keep-alive HTTP/1.
    let routes = Routes::new(&rt);
    let (client, server) = B::pair().await.unwrap();
    exec.execute(serve_h1(&rt, server, &routes));
    let mut send = client_h1(&exec, client).await.unwrap();
    for request in [
        get("/hello"),
        post("/echo", big_body()),
        get("/sleep/20"),
        get("/nowhere"),
    ] {
        send.ready().await.unwrap();
        let response = send.send_request(request).await.unwrap();
        log.push(format!("h1: {}", summary(response).await.unwrap()));
    }
    assert_eq!(routes.calls(), 4, "{}", B::NAME);

    // A uno timeout on the client; the abandoned call leaves its connection, so use a fresh one.
    let (client, server) = B::pair().await.unwrap();
    exec.execute(serve_h1(&rt, server, &routes));
    let mut send = client_h1(&exec, client).await.unwrap();
    let start = rt.now();
    let slow = send.send_request(get("/sleep/5000"));
    let err = rt
        .timeout(Duration::from_millis(50), "slow call", slow)
        .await
        .unwrap_err();
    assert!(rt.now() - start >= Duration::from_millis(50));
    log.push(format!("timeout: {err}"));

    // A panicking handler.
    let (client, server) = B::pair().await.unwrap();
    exec.execute(serve_h1(&rt, server, &routes));
    let mut send = client_h1(&exec, client).await.unwrap();
    let err = send.send_request(get("/panic")).await.unwrap_err();
    log.push(format!("panic: {}", kind(&err)));
    let (client, server) = B::pair().await.unwrap();
    exec.execute(serve_h1(&rt, server, &routes));
    let mut send = client_h1(&exec, client).await.unwrap();
    let response = send.send_request(get("/hello")).await.unwrap();
    log.push(format!(
        "after the panic: {}",
        summary(response).await.unwrap()
    ));
    let (client, server) = B::pair().await.unwrap();
    let server = rt.spawn(serve_h1(&rt, server, &routes));
    let mut send = client_h1(&exec, client).await.unwrap();
    assert!(send.send_request(get("/panic")).await.is_err());
    let join = server.await.unwrap_err();
    log.push(format!(
        "the connection's task: {}: {}",
        if join.is_panic() {
            "panicked"
        } else {
            "not a panic"
        },
        join.panic_message().unwrap_or("no message")
    ));

    // The server dies mid-call.
    let (client, server) = B::pair().await.unwrap();
    let routes = Routes::new(&rt);
    let server = rt.spawn(serve_h1(&rt, server, &routes));
    let mut send = client_h1(&exec, client).await.unwrap();
    let call = rt.spawn(send.send_request(get("/hang")));
    routes.reached.wait().await; // the request is in the handler
    server.cancel();
    let outcome = rt
        .timeout(Duration::from_secs(30), "the call to the dead server", call)
        .await
        .expect("no hang")
        .expect("the call's task");
    log.push(format!("server died: {}", kind(&outcome.unwrap_err())));
    let err = send.ready().await.unwrap_err();
    log.push(format!("the dead connection: {}", kind(&err)));

    // Concurrent HTTP/1 connections.
    let routes = Routes::new(&rt);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (client, server) = B::pair().await.unwrap();
        exec.execute(serve_h1(&rt, server, &routes));
        let exec = exec.clone();
        tasks.push(rt.spawn(async move {
            let mut send = client_h1(&exec, client).await.unwrap();
            let mut ok = 0;
            for _ in 0..3 {
                send.ready().await.unwrap();
                let response = send.send_request(get("/sleep/5")).await.unwrap();
                ok += usize::from(response.status() == 200);
            }
            ok
        }));
    }
    let mut ok = 0;
    for task in tasks {
        ok += task.await.unwrap();
    }
    log.push(format!("4 connections: {ok} x 200"));

    // HTTP/2: hyper spawns each stream through the executor.
    let counting = Counting::new(&rt);
    let (client, server) = B::pair().await.unwrap();
    exec.execute(serve_h2(&rt, counting.clone(), server, &routes));
    let send = client_h2(&rt, &exec, client).await.unwrap();
    let streams: Vec<_> = (0..16)
        .map(|i| {
            let mut send = send.clone();
            rt.spawn(async move {
                send.ready().await?;
                let response = send
                    .send_request(post("/echo", format!("stream {i}")))
                    .await?;
                summary(response).await
            })
        })
        .collect();
    let mut in_order = true;
    for (i, stream) in streams.into_iter().enumerate() {
        in_order &= stream.await.unwrap().unwrap() == format!("200 stream {i}");
    }
    if in_order {
        log.push("h2: 16 streams echoed in order".into());
    }
    if counting.count() >= 16 {
        log.push("h2: the executor ran every stream".into());
    }
    let mut one = send.clone();
    one.ready().await.unwrap();
    let err = one.send_request(get("/panic")).await.unwrap_err();
    log.push(format!("h2: the panicking stream: {}", kind(&err)));
    one.ready().await.unwrap();
    let response = one.send_request(get("/hello")).await.unwrap();
    log.push(format!(
        "h2: the next stream: {}",
        summary(response).await.unwrap()
    ));
    log
}

fn check<B: Backend>() {
    let log = B::run(|rt| async move {
        let bounded = rt.timeout(
            Duration::from_secs(60),
            "the scenario",
            scenario::<B>(rt.clone()),
        );
        bounded.await.expect("the scenario finishes")
    });
    assert_eq!(log, TRANSCRIPT, "on {}", B::NAME);
}

#[test]
fn tokio_current_thread() {
    check::<TokioCurrentThread>();
}

#[test]
fn tokio_multi_thread() {
    check::<TokioMultiThread>();
}

#[test]
fn smol() {
    check::<Smol>();
}

#[test]
fn async_std() {
    check::<AsyncStd>();
}

#[test]
fn virtual_runtime() {
    check::<Virtual>();
}
