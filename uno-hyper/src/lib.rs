//! hyper 1.x on any uno [`Runtime`](uno_core::rt::Runtime): tokio (both flavours), smol,
//! async-std, an outsider's adapter, or [`VirtualRuntime`](uno_core::rt::VirtualRuntime) for
//! HTTP tests in virtual time.
//!
//! hyper is runtime-agnostic through the traits of [`hyper::rt`]; this crate implements them
//! once, over uno's seam:
//!
//! | hyper needs | uno-hyper gives | over |
//! |---|---|---|
//! | [`rt::Executor`](hyper::rt::Executor) | [`UnoExecutor`] | [`Runtime::spawn`](uno_core::rt::Runtime::spawn), detached; a panicking connection ends alone |
//! | [`rt::Timer`](hyper::rt::Timer), [`rt::Sleep`](hyper::rt::Sleep) | [`UnoTimer`] | the runtime's clock; `reset` moves uno's resettable sleep in place |
//! | [`rt::Read`](hyper::rt::Read), [`rt::Write`](hyper::rt::Write) | [`UnoIo`] | any `futures-io` stream (and back: hyper's I/O as `futures-io`) |
//! | a socket on virtual time | [`mem::duplex`] | an in-memory pipe pair, no reactor |
//!
//! Sockets come from the runtime you run on: smol's and async-std's `TcpStream` are `futures-io`
//! streams already; tokio's becomes one with `tokio_util::compat::TokioAsyncReadCompatExt::compat`.
//! uno-hyper itself needs none of hyper's features: enable `client`/`server` and
//! `http1`/`http2` on your own `hyper` dependency. It has no features of its own.
//!
//! # Examples
//!
//! An HTTP/1 round trip on [`VirtualRuntime`](uno_core::rt::VirtualRuntime) over the in-memory
//! stream; the server takes 2 s (virtual: the test takes microseconds), and the client gives up
//! on a second call after 1 s with uno's timeout.
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Empty, Full};
//! use hyper::{Request, Response, body::Incoming, rt::Executor, service::service_fn};
//! use uno_core::rt::VirtualRuntime;
//! use uno_hyper::{UnoExecutor, UnoIo, UnoTimer, mem};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let vrt = VirtualRuntime::new();
//! let rt = vrt.handle();
//! vrt.block_on(async move {
//!     let exec = UnoExecutor::new(rt.clone());
//!     let (client_end, server_end) = mem::duplex(64 * 1024)?;
//!
//!     // The server: a slow hello, on the uno runtime's clock.
//!     let sleeper = rt.clone();
//!     let hello = service_fn(move |req: Request<Incoming>| {
//!         let rt = sleeper.clone();
//!         async move {
//!             rt.sleep(Duration::from_secs(2)).await;
//!             let body = Full::new(Bytes::from(format!("hello {}", req.uri().path())));
//!             Ok::<_, Infallible>(Response::new(body))
//!         }
//!     });
//!     let server = hyper::server::conn::http1::Builder::new()
//!         .timer(UnoTimer::new(rt.clone()))
//!         .serve_connection(UnoIo::new(server_end), hello);
//!     exec.execute(server);
//!
//!     // The client.
//!     let (mut send, conn) = hyper::client::conn::http1::handshake(UnoIo::new(client_end)).await?;
//!     exec.execute(conn);
//!     let start = rt.now();
//!     let response = send.send_request(Request::get("/uno").body(Empty::<Bytes>::new())?).await?;
//!     let body = response.into_body().collect().await?.to_bytes();
//!     assert_eq!(body, "hello /uno");
//!     assert_eq!(rt.now() - start, Duration::from_secs(2)); // exact, in virtual time
//!
//!     let slow = send.send_request(Request::get("/again").body(Empty::<Bytes>::new())?);
//!     let err = rt.timeout(Duration::from_secs(1), "GET /again", slow).await.unwrap_err();
//!     assert_eq!(err.to_string(), "GET /again: timed out after 1s");
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(())
//! # }
//! ```

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]

mod executor;
mod io;
pub mod mem;
mod timer;

pub use executor::UnoExecutor;
pub use io::UnoIo;
pub use timer::UnoTimer;
