//! What the tests share: the backends (tokio both flavours, smol, async-std over loopback TCP,
//! and `VirtualRuntime` over `mem::duplex`), one hyper service, and client/server helpers.

// Each test binary uses a part of this module.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1 as client1, http2 as client2};
use hyper::rt::Executor;
use hyper::server::conn::{http1 as server1, http2 as server2};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use uno_core::rt::{Runtime, VirtualRuntime};
use uno_core::sync::AsyncEvent;
use uno_hyper::{UnoExecutor, UnoIo, UnoTimer, mem};

pub type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub type Body = Full<Bytes>;

/// A runtime to run a test on, and a way to connect a client to a server on it.
pub trait Backend {
    const NAME: &'static str;
    /// The stream a connection runs over: each runtime's own `TcpStream` (as `futures-io`), or the
    /// in-memory duplex.
    type Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    /// Builds the runtime and runs `test` on it to completion.
    fn run<F, Fut>(test: F) -> Fut::Output
    where
        F: FnOnce(Runtime) -> Fut,
        Fut: Future;

    /// A connected pair, `(client end, server end)`: over 127.0.0.1 for the real runtimes.
    fn pair() -> BoxFut<io::Result<(Self::Stream, Self::Stream)>>;
}

/// Binds 127.0.0.1:0 with `$net`'s listener, connects to it and accepts, concurrently:
/// `(client, server)`, without Nagle's delay. tokio's, smol's and async-std's `net` modules have
/// the same names for all of it.
macro_rules! loopback {
    ($($net:ident)::+) => {
        async {
            let listener = $($net)::+::TcpListener::bind("127.0.0.1:0").await?;
            let connect = $($net)::+::TcpStream::connect(listener.local_addr()?);
            let accept = async { Ok(listener.accept().await?.0) };
            let (client, server) = futures_lite::future::try_zip(connect, accept).await?;
            client.set_nodelay(true)?;
            server.set_nodelay(true)?;
            io::Result::Ok((client, server))
        }
    };
}

pub struct TokioCurrentThread;
pub struct TokioMultiThread;
pub struct Smol;
pub struct AsyncStd;
pub struct Virtual;

fn tokio_pair() -> BoxFut<io::Result<(TokioStream, TokioStream)>> {
    use tokio_util::compat::TokioAsyncReadCompatExt;
    Box::pin(async {
        let (client, server) = loopback!(tokio::net).await?;
        Ok((client.compat(), server.compat()))
    })
}

pub type TokioStream = tokio_util::compat::Compat<tokio::net::TcpStream>;

impl Backend for TokioCurrentThread {
    const NAME: &'static str = "tokio-current-thread";
    type Stream = TokioStream;

    fn run<F, Fut>(test: F) -> Fut::Output
    where
        F: FnOnce(Runtime) -> Fut,
        Fut: Future,
    {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let rt = uno_tokio::runtime_from(tokio.handle().clone()).expect("the time driver is on");
        tokio.block_on(test(rt))
    }

    fn pair() -> BoxFut<io::Result<(Self::Stream, Self::Stream)>> {
        tokio_pair()
    }
}

impl Backend for TokioMultiThread {
    const NAME: &'static str = "tokio-multi-thread";
    type Stream = TokioStream;

    fn run<F, Fut>(test: F) -> Fut::Output
    where
        F: FnOnce(Runtime) -> Fut,
        Fut: Future,
    {
        uno_tokio::run(test).expect("a tokio runtime")
    }

    fn pair() -> BoxFut<io::Result<(Self::Stream, Self::Stream)>> {
        tokio_pair()
    }
}

impl Backend for Smol {
    const NAME: &'static str = "smol";
    type Stream = smol::net::TcpStream;

    fn run<F, Fut>(test: F) -> Fut::Output
    where
        F: FnOnce(Runtime) -> Fut,
        Fut: Future,
    {
        uno_smol::run(test)
    }

    fn pair() -> BoxFut<io::Result<(Self::Stream, Self::Stream)>> {
        Box::pin(loopback!(smol::net))
    }
}

impl Backend for AsyncStd {
    const NAME: &'static str = "async-std";
    type Stream = async_std::net::TcpStream;

    fn run<F, Fut>(test: F) -> Fut::Output
    where
        F: FnOnce(Runtime) -> Fut,
        Fut: Future,
    {
        uno_async_std::run(test)
    }

    fn pair() -> BoxFut<io::Result<(Self::Stream, Self::Stream)>> {
        Box::pin(loopback!(async_std::net))
    }
}

impl Backend for Virtual {
    const NAME: &'static str = "virtual";
    type Stream = mem::DuplexStream;

    fn run<F, Fut>(test: F) -> Fut::Output
    where
        F: FnOnce(Runtime) -> Fut,
        Fut: Future,
    {
        let vrt = VirtualRuntime::new();
        vrt.block_on(test(vrt.handle()))
    }

    fn pair() -> BoxFut<io::Result<(Self::Stream, Self::Stream)>> {
        Box::pin(async { mem::duplex(64 * 1024).map_err(io::Error::other) })
    }
}

/// The service every test serves:
///
/// - `GET /hello` answers `hello`; `POST /echo` answers the request's body;
/// - `GET /sleep/<ms>` sleeps that long on the runtime's clock, then answers `slept <ms>ms`;
/// - `GET /status/<code>` answers that status;
/// - `GET /hang` sets `reached` and never answers; `GET /panic` panics;
/// - anything else is 404.
#[derive(Clone)]
pub struct Routes {
    pub rt: Runtime,
    /// Set by `/hang` once the request has reached the handler.
    pub reached: AsyncEvent,
    /// How many requests reached the handler.
    pub calls: Arc<AtomicUsize>,
}

impl Routes {
    pub fn new(rt: &Runtime) -> Self {
        Routes {
            rt: rt.clone(),
            reached: AsyncEvent::new(),
            calls: Arc::default(),
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub async fn handle(self, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let path = req.uri().path().to_owned();
        let reply = |status: StatusCode, body: String| {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = status;
            Ok(response)
        };
        if path == "/hello" {
            return reply(StatusCode::OK, "hello".into());
        }
        if path == "/echo" {
            return match req.into_body().collect().await {
                Ok(body) => Ok(Response::new(Full::new(body.to_bytes()))),
                Err(err) => reply(StatusCode::BAD_REQUEST, err.to_string()),
            };
        }
        if let Some(ms) = path.strip_prefix("/sleep/").and_then(|ms| ms.parse().ok()) {
            self.rt.sleep(Duration::from_millis(ms)).await;
            return reply(StatusCode::OK, format!("slept {ms}ms"));
        }
        if let Some(code) = path.strip_prefix("/status/").and_then(|c| c.parse().ok()) {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
            return reply(status, status.to_string());
        }
        if path == "/hang" {
            self.reached.set();
            std::future::pending::<()>().await;
        }
        if path == "/panic" {
            panic!("the handler panicked");
        }
        reply(StatusCode::NOT_FOUND, "no such route".into())
    }

    /// As a hyper `Service`.
    pub fn service(
        self,
    ) -> impl hyper::service::Service<
        Request<Incoming>,
        Response = Response<Body>,
        Error = Infallible,
        Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
    > + Clone
    + Send
    + 'static {
        service_fn(move |req| self.clone().handle(req))
    }
}

/// Serves HTTP/1 on `io` with the uno timer; the connection's own future, to spawn.
pub fn serve_h1<S>(
    rt: &Runtime,
    io: S,
    routes: &Routes,
) -> impl Future<Output = hyper::Result<()>> + Send + 'static + use<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    server1::Builder::new()
        .timer(UnoTimer::new(rt.clone()))
        .serve_connection(UnoIo::new(io), routes.clone().service())
}

/// Serves HTTP/2 on `io`: hyper spawns each stream through `exec` (which counts them).
pub fn serve_h2<S>(
    rt: &Runtime,
    exec: Counting,
    io: S,
    routes: &Routes,
) -> impl Future<Output = hyper::Result<()>> + Send + 'static + use<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    server2::Builder::new(exec)
        .timer(UnoTimer::new(rt.clone()))
        .serve_connection(UnoIo::new(io), routes.clone().service())
}

/// An HTTP/1 client on `io`; its connection runs through `exec`.
pub async fn client_h1<S>(exec: &UnoExecutor, io: S) -> hyper::Result<client1::SendRequest<Body>>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (send, conn) = client1::handshake(UnoIo::new(io)).await?;
    exec.execute(conn);
    Ok(send)
}

/// An HTTP/2 client on `io`, with the uno timer; its connection runs through `exec`.
pub async fn client_h2<S>(
    rt: &Runtime,
    exec: &UnoExecutor,
    io: S,
) -> hyper::Result<client2::SendRequest<Body>>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (send, conn) = client2::Builder::new(exec.clone())
        .timer(UnoTimer::new(rt.clone()))
        .handshake(UnoIo::new(io))
        .await?;
    exec.execute(conn);
    Ok(send)
}

pub fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .body(Body::default())
        .expect("a valid request")
}

pub fn post(path: &str, body: impl Into<Bytes>) -> Request<Body> {
    Request::post(path)
        .body(Full::new(body.into()))
        .expect("a valid request")
}

/// `"<status> <body>"`, the body cut to 40 bytes with its length when longer.
pub async fn summary(response: Response<Incoming>) -> hyper::Result<String> {
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(if body.len() > 40 {
        format!(
            "{} {}... ({} bytes)",
            status.as_u16(),
            String::from_utf8_lossy(&body[..40]),
            body.len()
        )
    } else {
        format!("{} {}", status.as_u16(), String::from_utf8_lossy(&body))
    })
}

/// What kind of failure a hyper error is, by its public queries.
pub fn kind(err: &hyper::Error) -> String {
    let kind = if err.is_incomplete_message() {
        "incomplete message"
    } else if err.is_canceled() {
        "canceled"
    } else if err.is_closed() {
        "closed"
    } else if err.is_timeout() {
        "timeout"
    } else if let Some(reason) = std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<h2::Error>())
        .and_then(h2::Error::reason)
    {
        return format!("reset by the server ({reason:?})");
    } else {
        return format!("other: {err:?}");
    };
    kind.to_owned()
}

/// An executor that counts what it runs, over [`UnoExecutor`].
#[derive(Clone)]
pub struct Counting {
    pub inner: UnoExecutor,
    pub count: Arc<AtomicUsize>,
}

impl Counting {
    pub fn new(rt: &Runtime) -> Self {
        Counting {
            inner: UnoExecutor::new(rt.clone()),
            count: Arc::default(),
        }
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl<F> Executor<F> for Counting
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.inner.execute(future);
    }
}
