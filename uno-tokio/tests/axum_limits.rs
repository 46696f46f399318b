//! A real axum server on tokio behind uno's tower layers, asked by a hyper client over loopback:
//! the rate limiter's refusal becomes 429 with `Retry-After` through axum's `HandleErrorLayer`,
//! and a shedding bulkhead answers 503 under load, then admits again once a slot frees.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;
use uno_core::resilience::{Bulkhead, RateLimiter, ResilienceError, TimeoutPolicy};
use uno_core::sync::AsyncEvent;

/// Every test is bounded: a hang fails it instead of the CI job.
const PATIENCE: Duration = Duration::from_secs(30);

async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what} did not finish within {PATIENCE:?}"),
    }
}

/// Serves `app` on 127.0.0.1 (a free port); returns the address and the server's task.
async fn serve(app: Router) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, server)
}

/// One GET on a fresh connection: the status, the `Retry-After` header and the body.
async fn get_once(addr: std::net::SocketAddr, path: &str) -> (StatusCode, Option<String>, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let req = Request::get(path)
        .header(header::HOST, "127.0.0.1")
        .body(Body::empty())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    drop(sender);
    let _ = conn.await;
    (
        status,
        retry_after,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// 429 with `Retry-After` in whole seconds (rounded up) for a rate limit, 503 for a full
/// bulkhead, 504 for a timeout: what a `HandleErrorLayer` callback answers for uno's errors.
fn status_of<E>(err: &ResilienceError<E>) -> Response {
    match err {
        ResilienceError::RateLimited(limited) => {
            let wait = limited.retry_after;
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let headers = [(header::RETRY_AFTER, secs.to_string())];
            (StatusCode::TOO_MANY_REQUESTS, headers, err_text(err)).into_response()
        }
        ResilienceError::Rejected(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, err_text(err)).into_response()
        }
        ResilienceError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, err_text(err)).into_response(),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn err_text<E>(err: &ResilienceError<E>) -> String {
    match err {
        ResilienceError::RateLimited(e) => e.to_string(),
        ResilienceError::Rejected(e) => e.to_string(),
        ResilienceError::Timeout(e) => e.to_string(),
        _ => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limiters_refusal_is_429_with_retry_after() {
    let rt = uno_tokio::runtime_from(tokio::runtime::Handle::current()).unwrap();
    let limiter = RateLimiter::builder(&rt, 2, Duration::from_secs(60))
        .name("api")
        .build()
        .unwrap();
    let app = Router::new().route("/", get(|| async { "hello" })).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(
                |err: ResilienceError<Infallible>| async move { status_of(&err) },
            ))
            .layer(limiter.layer().shed()),
    );
    let (addr, server) = serve(app).await;
    bounded("three requests", async {
        for _ in 0..2 {
            let (status, _, body) = get_once(addr, "/").await;
            assert_eq!((status, body.as_str()), (StatusCode::OK, "hello"));
        }
        // Two per minute, burst 2: the third waits one interval of 30 s.
        let (status, retry_after, body) = get_once(addr, "/").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        let secs: u64 = retry_after.expect("a Retry-After header").parse().unwrap();
        assert!((29..=30).contains(&secs), "Retry-After: {secs}");
        assert!(
            body.starts_with(r#"rate limiter "api" refused the call"#),
            "{body}"
        );
    })
    .await;
    let stats = limiter.stats();
    assert_eq!((stats.admitted, stats.rejected), (2, 1));
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shedding_bulkhead_answers_503_under_load_and_admits_again_after() {
    let rt = uno_tokio::runtime_from(tokio::runtime::Handle::current()).unwrap();
    let bulkhead = Bulkhead::builder(&rt, 2).name("reports").build().unwrap();
    let timeout = TimeoutPolicy::builder(&rt, Duration::from_secs(20))
        .message("report")
        .build()
        .unwrap();
    let release = std::sync::Arc::new(AsyncEvent::new());
    let gate = release.clone();
    let handler = move || {
        let gate = gate.clone();
        async move {
            gate.wait().await;
            "report"
        }
    };
    let app = Router::new().route("/report", get(handler)).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(
                |err: ResilienceError<ResilienceError<Infallible>>| async move {
                    match err {
                        ResilienceError::Inner(inner) => status_of(&inner),
                        outer => status_of(&outer),
                    }
                },
            ))
            .layer(bulkhead.layer().shed())
            .layer(timeout.layer()),
    );
    let (addr, server) = serve(app).await;
    bounded("the load, the refusal and the recovery", async {
        let held: Vec<_> = (0..2)
            .map(|_| tokio::spawn(get_once(addr, "/report")))
            .collect();
        while bulkhead.stats().in_flight < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (status, _, body) = get_once(addr, "/report").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, r#"bulkhead "reports" is full"#);
        release.set();
        for request in held {
            let (status, _, body) = request.await.unwrap();
            assert_eq!((status, body.as_str()), (StatusCode::OK, "report"));
        }
        while bulkhead.stats().in_flight > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (status, _, body) = get_once(addr, "/report").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "report"));
    })
    .await;
    let stats = bulkhead.stats();
    assert_eq!(
        (stats.admitted, stats.rejected_queue_full, stats.in_flight),
        (3, 1, 0)
    );
    server.abort();
}
