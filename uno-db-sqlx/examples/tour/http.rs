//! The HTTP section of uno's tour (`main.rs` calls [`tour_section`]): one hyper server and client
//! through uno-hyper, the same code on every runtime — over each runtime's own loopback
//! `TcpStream`, or over `uno_hyper::mem::duplex` on virtual time.

use std::convert::Infallible;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::io::{AsyncRead, AsyncWrite};
use http_body_util::{BodyExt, Empty, Full};
use hyper::rt::Executor;
use hyper::service::service_fn;
use hyper::{Request, Response, body::Incoming, header};
use uno_core::Runtime;
use uno_hyper::{UnoExecutor, UnoIo, UnoTimer, mem};

/// Where the section's connection runs.
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

/// Runs the tour's HTTP section on `rt` over `net`: a round trip, then a slow call cut short by
/// uno's timeout. Prints what happened; a failure is printed too.
///
/// # Cancel safety
///
/// Dropping it drops the client; the server's connection task ends when it sees the close.
pub(crate) async fn tour_section(rt: &Runtime, net: Net) {
    if let Err(error) = section(rt, net).await {
        println!("  http: the HTTP section failed: {error}");
    }
}

async fn section(rt: &Runtime, net: Net) -> Result<(), Error> {
    let exec = UnoExecutor::new(rt.clone());
    let (client, server) = connect(net).await?;

    // The server: hyper's HTTP/1 connection, with uno's timer for its header-read timeout, run
    // by uno's executor. `/slow` takes a second on the runtime's clock.
    let clock = rt.clone();
    let quotes = service_fn(move |req: Request<Incoming>| {
        let clock = clock.clone();
        async move {
            if req.uri().path() == "/slow" {
                clock.sleep(Duration::from_secs(1)).await;
            }
            let body = format!("EURUSD 1.08 (for {})", req.uri().path());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(UnoTimer::new(rt.clone()))
        .header_read_timeout(Duration::from_secs(5))
        .serve_connection(UnoIo::new(server), quotes);
    exec.execute(connection);

    // The client: hyper's HTTP/1 handshake over the same kind of stream.
    let (mut send, connection) = hyper::client::conn::http1::handshake(UnoIo::new(client)).await?;
    exec.execute(connection);
    let get = |path: &str| {
        Request::get(path)
            .header(header::HOST, "uno.example")
            .body(Empty::<Bytes>::new())
    };
    let response = send.send_request(get("/quotes")?).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    println!("  http: GET /quotes over {net} -> {status} {body:?}");

    // HTTP/1 carries one call at a time: wait until the connection is ready for the next.
    send.ready().await?;
    let start = rt.now();
    let slow = send.send_request(get("/slow")?);
    match rt
        .timeout(Duration::from_millis(50), "GET /slow", slow)
        .await
    {
        Err(elapsed) => println!(
            "  http: a slow call under uno's timeout -> {elapsed} (after {:?})",
            rt.now() - start
        ),
        Ok(response) => println!(
            "  http: unexpected answer {:?}",
            response.map(|r| r.status())
        ),
    }
    Ok(())
}

/// A connected `(client, server)` pair over `net`.
async fn connect(net: Net) -> Result<(Box<dyn Stream>, Box<dyn Stream>), Error> {
    use futures_lite::future::try_zip;
    Ok(match net {
        Net::Tokio => {
            use tokio_util::compat::TokioAsyncReadCompatExt;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let connect = tokio::net::TcpStream::connect(listener.local_addr()?);
            let accept = async { Ok(listener.accept().await?.0) };
            let (client, server) = try_zip(connect, accept).await?;
            (Box::new(client.compat()), Box::new(server.compat()))
        }
        Net::Smol => {
            let listener = smol::net::TcpListener::bind("127.0.0.1:0").await?;
            let connect = smol::net::TcpStream::connect(listener.local_addr()?);
            let accept = async { Ok(listener.accept().await?.0) };
            let (client, server) = try_zip(connect, accept).await?;
            (Box::new(client), Box::new(server))
        }
        Net::AsyncStd => {
            let listener = async_std::net::TcpListener::bind("127.0.0.1:0").await?;
            let connect = async_std::net::TcpStream::connect(listener.local_addr()?);
            let accept = async { Ok(listener.accept().await?.0) };
            let (client, server) = try_zip(connect, accept).await?;
            (Box::new(client), Box::new(server))
        }
        Net::Memory => {
            let (client, server) = mem::duplex(64 * 1024)?;
            (Box::new(client), Box::new(server))
        }
    })
}
