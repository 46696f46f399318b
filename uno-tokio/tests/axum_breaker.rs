//! axum on tokio behind uno's tower layers, over real loopback HTTP with a hyper client: the
//! circuit breaker opens on 5xx answers and recovers through half-open probes; the retry layer
//! retries a 503 after its `Retry-After`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::http::{Response, StatusCode, Uri, header};
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use uno_core::resilience::{
    Backoff, CircuitBreaker, CircuitState, ResilienceError, Retry, Verdict,
};

/// Every request of these tests is bounded by this (a loaded machine: generous).
const BOUND: Duration = Duration::from_secs(20);

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Serves `app` on 127.0.0.1:0; returns its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// GETs `url`: the status and the body as text.
async fn get_text(client: &HttpClient, url: &str) -> (StatusCode, String) {
    let uri: Uri = url.parse().unwrap();
    let response = tokio::time::timeout(BOUND, client.get(uri))
        .await
        .expect("bounded")
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// 5xx answers open the breaker (the handler is no longer called: 503 "circuit open" from the
/// error handler, with `Retry-After`); after the open duration, good probes close it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_on_5xx_and_recovers_through_half_open_probes() {
    let rt = uno_tokio::runtime().unwrap();
    let open_for = Duration::from_millis(300);
    let breaker = CircuitBreaker::builder(&rt)
        .name("backend")
        .count_window(4)
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .open_duration(open_for)
        .half_open_probes(2)
        .build()
        .unwrap();
    let status = Arc::new(AtomicU16::new(500));
    let handled = Arc::new(AtomicU32::new(0));
    let (answer, count) = (status.clone(), handled.clone());
    let app = Router::new()
        .route(
            "/",
            get(move || {
                count.fetch_add(1, Ordering::Relaxed);
                let code = StatusCode::from_u16(answer.load(Ordering::Relaxed)).unwrap();
                async move { (code, "handler") }
            }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(
                    |err: ResilienceError<Infallible>| async move {
                        let secs = err.retry_after().map_or(1, |d| d.as_secs().max(1));
                        let status = if err.is_rejected() {
                            StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            StatusCode::INTERNAL_SERVER_ERROR
                        };
                        (
                            status,
                            [(header::RETRY_AFTER, secs.to_string())],
                            "circuit open",
                        )
                    },
                ))
                .layer(breaker.layer().classify(
                    |outcome: Result<&Response<Body>, &Infallible>| match outcome {
                        Ok(response) if response.status().is_server_error() => Verdict::Failure,
                        _ => Verdict::Success,
                    },
                )),
        );
    let base = serve(app).await;
    let client = client();
    for _ in 0..4 {
        assert_eq!(
            get_text(&client, &base).await,
            (StatusCode::INTERNAL_SERVER_ERROR, "handler".into())
        );
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    let opened = Instant::now();
    let (code, body) = get_text(&client, &base).await;
    assert_eq!(
        (code, body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "circuit open")
    );
    assert_eq!(
        handled.load(Ordering::Relaxed),
        4,
        "an open breaker does not call the handler"
    );

    // The backend heals; after the open duration, two good probes close the breaker.
    status.store(200, Ordering::Relaxed);
    tokio::time::sleep(open_for.saturating_sub(opened.elapsed()) + Duration::from_millis(50)).await;
    assert_eq!(
        get_text(&client, &base).await.0,
        StatusCode::OK,
        "the first probe"
    );
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    assert_eq!(
        get_text(&client, &base).await.0,
        StatusCode::OK,
        "the second probe"
    );
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(
        get_text(&client, &base).await,
        (StatusCode::OK, "handler".into())
    );
    let stats = breaker.stats();
    assert_eq!((stats.failures, stats.opened), (4, 1));
    assert!(stats.rejected >= 1);
}

/// A client-side retry layer over the hyper client: the server answers 503 with
/// `Retry-After: 1` once, then 200; the retry waits the server's second (not its 10 ms backoff).
#[tokio::test(flavor = "current_thread")]
async fn retry_layer_retries_a_503_after_its_retry_after() {
    let rt = uno_tokio::runtime().unwrap();
    let hits = Arc::new(AtomicU32::new(0));
    let seen = hits.clone();
    let app = Router::new().route(
        "/",
        get(move || {
            let n = seen.fetch_add(1, Ordering::Relaxed);
            async move {
                if n == 0 {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::RETRY_AFTER, "1")],
                        "busy",
                    )
                } else {
                    (StatusCode::OK, [(header::RETRY_AFTER, "0")], "fresh")
                }
            }
        }),
    );
    let base = serve(app).await;
    let retry = Retry::builder(&rt)
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .build()
        .unwrap();
    let http = client();
    let classify =
        |outcome: Result<&Response<hyper::body::Incoming>, &hyper_util::client::legacy::Error>| {
            match outcome {
                Ok(response) if matches!(response.status().as_u16(), 429 | 503) => response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    .map_or(Verdict::Failure, |secs| {
                        Verdict::RetryAfter(Duration::from_secs(secs))
                    }),
                Ok(response) if response.status().is_server_error() => Verdict::Failure,
                Ok(_) => Verdict::Success,
                Err(_) => Verdict::Failure,
            }
        };
    // The request is a `Uri` (cloneable); the service builds the `http::Request` per attempt.
    let service = ServiceBuilder::new()
        .layer(retry.layer().classify(classify))
        .service(service_fn(move |uri: Uri| http.get(uri)));
    let start = Instant::now();
    let response = tokio::time::timeout(BOUND, service.oneshot(base.parse::<Uri>().unwrap()))
        .await
        .expect("bounded")
        .unwrap();
    let took = start.elapsed();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"fresh");
    assert_eq!(hits.load(Ordering::Relaxed), 2);
    assert!(
        took >= Duration::from_secs(1),
        "waited the Retry-After: {took:?}"
    );
    assert!(took < BOUND, "{took:?}");
    let stats = retry.stats();
    assert_eq!((stats.attempts, stats.retries, stats.successes), (2, 1, 1));
}
