//! The HTTP section of uno's tour (`main.rs` calls [`tour_section`]): a hyper server and client
//! through uno-hyper, the same code on every runtime — over each runtime's own loopback
//! `TcpStream`, or over `uno_hyper::mem::duplex` on virtual time — first plain, then with the
//! client behind uno's tower layers (bulkhead, rate limit, retry, per-attempt timeout).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::io::{AsyncRead, AsyncWrite};
use http_body_util::{BodyExt, Empty, Full};
use hyper::rt::Executor;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, body::Incoming, header};
use tower::{Service, ServiceBuilder, ServiceExt};
use uno_core::Runtime;
use uno_core::resilience::{
    Backoff, Bulkhead, RateLimiter, ResilienceError, Retry, TimeoutPolicy, Verdict,
};
use uno_hyper::{UnoExecutor, UnoIo, UnoTimer, mem};

/// Where the section's connections run.
#[derive(Clone, Copy)]
pub(crate) enum Net {
    /// tokio's `TcpStream` on 127.0.0.1, as `futures-io` through `tokio_util::compat`.
    Tokio,
    /// smol's `TcpStream` on 127.0.0.1.
    Smol,
    /// async-std's `TcpStream` on 127.0.0.1.
    AsyncStd,
    /// The in-memory duplex: no reactor, so it runs on `VirtualRuntime`.
    Memory,
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Net::Tokio => "tokio's TcpStream",
            Net::Smol => "smol's TcpStream",
            Net::AsyncStd => "async-std's TcpStream",
            Net::Memory => "an in-memory duplex",
        })
    }
}

/// Any `futures-io` stream, boxed: what `UnoIo` wraps for hyper.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Runs the tour's HTTP section on `rt` over `net`. Prints what happened; a failure is printed too.
///
/// # Cancel safety
///
/// Dropping it stops the server's accept loop (its task handle is dropped, which cancels it);
/// connections in progress end when they see their peer close.
pub(crate) async fn tour_section(rt: &Runtime, net: Net) {
    if let Err(error) = section(rt, net).await {
        println!("  http: the HTTP section failed: {error}");
    }
}

async fn section(rt: &Runtime, net: Net) -> Result<(), Error> {
    let exec = UnoExecutor::new(rt.clone());
    let server = Server {
        rt: rt.clone(),
        exec: exec.clone(),
        flaky_calls: Arc::default(),
    };
    // Dropping the accept loop's task at the end of the section cancels it (uno's drop policy).
    let (endpoint, _accept_loop) = server.listen(net).await?;

    // Plain hyper: a handshake over the stream, the connection run by uno's executor.
    let (mut send, connection) =
        hyper::client::conn::http1::handshake(UnoIo::new(endpoint.connect().await?)).await?;
    exec.execute(connection);
    let response = send.send_request(get("/quotes")?).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    println!("  http: GET /quotes over {net} -> {status} {body:?}");

    // The same client as a tower `Service`, behind uno's layers: at most 4 calls in flight,
    // 100 a second, 3 attempts 20 ms apart (a 5xx is a failure), each attempt cut at 200 ms.
    let retry = Retry::builder(rt)
        .name("quotes")
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(20)))
        .build()?;
    let per_attempt = TimeoutPolicy::builder(rt, Duration::from_millis(200))
        .message("one attempt")
        .build()?;
    let client = ServiceBuilder::new()
        .layer(Bulkhead::builder(rt, 4).name("quotes").build()?.layer())
        .layer(
            RateLimiter::builder(rt, 100, Duration::from_secs(1))
                .name("quotes")
                .build()?
                .layer(),
        )
        .layer(
            retry.layer().classify(
                |outcome: Result<&Reply, &ResilienceError<Error>>| match outcome {
                    Ok(reply) if reply.status.is_server_error() => Verdict::Failure,
                    Ok(_) => Verdict::Success,
                    Err(_) => Verdict::Failure,
                },
            ),
        )
        .layer(per_attempt.layer())
        .service(HttpClient {
            endpoint,
            exec: exec.clone(),
        });

    let start = rt.now();
    let reply = client.clone().oneshot("/flaky").await;
    match reply {
        Ok(reply) => println!(
            "  http: GET /flaky through bulkhead, rate limit, retry and timeout layers -> {} {:?} \
             after {} attempts (the first answered 503) in {:?}",
            reply.status,
            reply.body,
            retry.stats().attempts,
            rt.now() - start
        ),
        Err(error) => println!("  http: GET /flaky failed: {}", error.flatten().flatten()),
    }
    let start = rt.now();
    match client.oneshot("/slow").await {
        Err(error) => println!(
            "  http: GET /slow -> {} (after {:?}: 3 x 200 ms + 2 x 20 ms)",
            error.flatten().flatten().flatten(),
            rt.now() - start
        ),
        Ok(reply) => println!("  http: unexpected answer {}", reply.status),
    }
    Ok(())
}

fn get(path: &str) -> Result<Request<Empty<Bytes>>, hyper::http::Error> {
    Request::get(path)
        .header(header::HOST, "uno.example")
        .body(Empty::new())
}

/// The server: hyper's HTTP/1 connection with uno's timer (for its header-read timeout), run by
/// uno's executor. `/quotes` answers; `/flaky` answers 503 the first time; `/slow` takes a second
/// on the runtime's clock.
#[derive(Clone)]
struct Server {
    rt: Runtime,
    exec: UnoExecutor,
    flaky_calls: Arc<AtomicUsize>,
}

impl Server {
    /// Serves one connection, in a task of its own.
    fn serve(&self, io: Box<dyn Stream>) {
        let (clock, flaky_calls) = (self.rt.clone(), self.flaky_calls.clone());
        let routes = service_fn(move |req: Request<Incoming>| {
            let (clock, flaky_calls) = (clock.clone(), flaky_calls.clone());
            async move {
                let path = req.uri().path();
                let mut status = StatusCode::OK;
                if path == "/slow" {
                    clock.sleep(Duration::from_secs(1)).await;
                }
                if path == "/flaky" && flaky_calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    status = StatusCode::SERVICE_UNAVAILABLE;
                }
                let mut response =
                    Response::new(Full::new(Bytes::from(format!("EURUSD 1.08 (for {path})"))));
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(UnoTimer::new(self.rt.clone()))
            .header_read_timeout(Duration::from_secs(5))
            .serve_connection(UnoIo::new(io), routes);
        self.exec.execute(connection);
    }

    /// Listens on 127.0.0.1 with `net`'s listener (accepting in a task whose handle is returned),
    /// or, in memory, serves each duplex a client makes.
    async fn listen(&self, net: Net) -> io::Result<(Endpoint, Option<uno_core::Task<()>>)> {
        let server = self.clone();
        let (addr, accept_loop) = match net {
            Net::Tokio => {
                use tokio_util::compat::TokioAsyncReadCompatExt;
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let addr = listener.local_addr()?;
                (
                    addr,
                    self.rt.spawn(async move {
                        while let Ok((stream, _)) = listener.accept().await {
                            server.serve(Box::new(stream.compat()));
                        }
                    }),
                )
            }
            Net::Smol => {
                let listener = smol::net::TcpListener::bind("127.0.0.1:0").await?;
                let addr = listener.local_addr()?;
                (
                    addr,
                    self.rt.spawn(async move {
                        while let Ok((stream, _)) = listener.accept().await {
                            server.serve(Box::new(stream));
                        }
                    }),
                )
            }
            Net::AsyncStd => {
                let listener = async_std::net::TcpListener::bind("127.0.0.1:0").await?;
                let addr = listener.local_addr()?;
                (
                    addr,
                    self.rt.spawn(async move {
                        while let Ok((stream, _)) = listener.accept().await {
                            server.serve(Box::new(stream));
                        }
                    }),
                )
            }
            Net::Memory => return Ok((Endpoint::Memory(server), None)),
        };
        Ok((Endpoint::Tcp(net, addr), Some(accept_loop)))
    }
}

/// Where a client connects: a loopback address, or the in-memory server itself.
#[derive(Clone)]
enum Endpoint {
    Tcp(Net, SocketAddr),
    Memory(Server),
}

impl Endpoint {
    async fn connect(&self) -> io::Result<Box<dyn Stream>> {
        Ok(match self {
            Endpoint::Tcp(Net::Tokio, addr) => {
                use tokio_util::compat::TokioAsyncReadCompatExt;
                Box::new(tokio::net::TcpStream::connect(addr).await?.compat())
            }
            Endpoint::Tcp(Net::Smol, addr) => Box::new(smol::net::TcpStream::connect(addr).await?),
            Endpoint::Tcp(_, addr) => Box::new(async_std::net::TcpStream::connect(addr).await?),
            Endpoint::Memory(server) => {
                let (client, theirs) = mem::duplex(64 * 1024).map_err(io::Error::other)?;
                server.serve(Box::new(theirs));
                Box::new(client)
            }
        })
    }
}

/// What the client service answers: the status and the whole body.
struct Reply {
    status: StatusCode,
    body: Bytes,
}

/// hyper's HTTP/1 client as a tower `Service` of paths: each call opens a connection to the
/// endpoint (HTTP/1 carries one call at a time) and sends `GET path`. A path is `Clone`, as
/// uno's `RetryLayer` needs to send it again (an `http::Request` is not).
#[derive(Clone)]
struct HttpClient {
    endpoint: Endpoint,
    exec: UnoExecutor,
}

impl Service<&'static str> for HttpClient {
    type Response = Reply;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Reply, Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, path: &'static str) -> Self::Future {
        let (endpoint, exec) = (self.endpoint.clone(), self.exec.clone());
        Box::pin(async move {
            let io = UnoIo::new(endpoint.connect().await?);
            let (mut send, connection) = hyper::client::conn::http1::handshake(io).await?;
            exec.execute(connection);
            let response = send.send_request(get(path)?).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok(Reply { status, body })
        })
    }
}
