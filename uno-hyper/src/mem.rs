//! An in-memory duplex stream: two connected ends, each a `futures-io` reader and writer, that
//! need no reactor — so hyper runs on [`VirtualRuntime`](uno_core::rt::VirtualRuntime) (or any
//! executor) without a socket. Wrap an end in [`UnoIo`](crate::UnoIo) for hyper.
//!
//! Semantics (those of a socket pair, and of `tokio::io::duplex`):
//!
//! - each direction buffers at most `capacity` bytes; a writer that finds the buffer full waits
//!   (back-pressure) until the peer reads;
//! - closing an end (`poll_close`) or dropping it is end-of-file for the peer's reads, once the
//!   peer has read what was buffered;
//! - writing to an end whose peer was dropped, or after closing it, fails with
//!   [`io::ErrorKind::BrokenPipe`];
//! - every wait is woken by the peer's action (read, write, close, drop), never by polling.
//!
//! # Examples
//!
//! ```
//! use futures_lite::future::block_on;
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//! use uno_hyper::mem;
//!
//! let (mut client, mut server) = mem::duplex(1024).unwrap();
//! block_on(async {
//!     client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
//!     client.close().await.unwrap(); // end of file for the server
//!     let mut request = String::new();
//!     server.read_to_string(&mut request).await.unwrap();
//!     assert!(request.starts_with("GET / "));
//! });
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_io::{AsyncRead, AsyncWrite};

/// A pair of connected in-memory streams; each direction buffers up to `capacity` bytes.
///
/// The buffers grow as bytes arrive (nothing is allocated up front), so a large capacity costs
/// nothing until it is used; `usize::MAX` means no back-pressure at all.
///
/// # Errors
///
/// [`ZeroCapacity`] if `capacity` is 0: no byte could ever pass, every write would wait forever.
///
/// # Examples
///
/// ```
/// use uno_hyper::mem::{ZeroCapacity, duplex};
///
/// let (a, b) = duplex(8 * 1024).unwrap();
/// assert_eq!((a.capacity(), b.capacity()), (8 * 1024, 8 * 1024));
/// assert_eq!(duplex(0).unwrap_err(), ZeroCapacity);
/// ```
pub fn duplex(capacity: usize) -> Result<(DuplexStream, DuplexStream), ZeroCapacity> {
    if capacity == 0 {
        return Err(ZeroCapacity);
    }
    let there = Arc::new(Mutex::new(Pipe::new(capacity)));
    let back = Arc::new(Mutex::new(Pipe::new(capacity)));
    Ok((
        DuplexStream {
            read: back.clone(),
            write: there.clone(),
        },
        DuplexStream {
            read: there,
            write: back,
        },
    ))
}

/// The error of [`duplex`] with a capacity of 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroCapacity;

impl fmt::Display for ZeroCapacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("duplex capacity must be at least one byte")
    }
}

impl std::error::Error for ZeroCapacity {}

/// One end of an in-memory [`duplex`] stream: a `futures-io` [`AsyncRead`] + [`AsyncWrite`].
///
/// Dropping it closes both directions for the peer (see the [module docs](self)).
///
/// # Cancel safety
///
/// Every operation is a `poll_*` method that either completes or leaves the stream as it was
/// (registering a waker), so dropping a read or write future in progress loses no bytes:
/// a write that returned `Pending` wrote nothing.
pub struct DuplexStream {
    /// Bytes the peer wrote, for us to read.
    read: Arc<Mutex<Pipe>>,
    /// Bytes we write, for the peer to read.
    write: Arc<Mutex<Pipe>>,
}

/// One direction of a duplex: a bounded byte queue between one writer and one reader.
struct Pipe {
    bytes: VecDeque<u8>,
    capacity: usize,
    /// The writer closed or was dropped: once drained, reads see end-of-file.
    writer_gone: bool,
    /// The reader was dropped: writes fail with `BrokenPipe`.
    reader_gone: bool,
    /// The reader waiting for bytes (or for end-of-file).
    reader: Option<Waker>,
    /// The writer waiting for room (or for the reader to go).
    writer: Option<Waker>,
}

impl Pipe {
    fn new(capacity: usize) -> Self {
        Pipe {
            bytes: VecDeque::new(),
            capacity,
            writer_gone: false,
            reader_gone: false,
            reader: None,
            writer: None,
        }
    }
}

/// Locks a pipe. No code that can panic runs under the lock (wakers are woken after it is
/// released), so a poisoned lock still holds a consistent pipe.
fn lock(pipe: &Mutex<Pipe>) -> MutexGuard<'_, Pipe> {
    pipe.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers `waker` in `slot` unless the same waker is already there.
fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(old) if old.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

fn broken_pipe() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the other end of the duplex is closed",
    )
}

impl DuplexStream {
    /// How many bytes each direction buffers at most.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = uno_hyper::mem::duplex(512).unwrap();
    /// assert_eq!(a.capacity(), 512);
    /// ```
    pub fn capacity(&self) -> usize {
        lock(&self.write).capacity
    }

    /// How many bytes are waiting to be read on this end (written by the peer, not yet read).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncWriteExt;
    ///
    /// let (mut a, b) = uno_hyper::mem::duplex(512).unwrap();
    /// futures_lite::future::block_on(a.write_all(b"abc")).unwrap();
    /// assert_eq!(b.buffered(), 3);
    /// ```
    pub fn buffered(&self) -> usize {
        lock(&self.read).bytes.len()
    }

    /// Closes the writing direction now, as `poll_close` does, without a task context: the peer
    /// reads what is buffered, then end-of-file. Idempotent.
    fn close_write(&self) {
        let mut pipe = lock(&self.write);
        pipe.writer_gone = true;
        let reader = pipe.reader.take();
        drop(pipe);
        wake(reader);
    }
}

impl AsyncRead for DuplexStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut pipe = lock(&self.read);
        if pipe.bytes.is_empty() {
            if pipe.writer_gone {
                return Poll::Ready(Ok(0));
            }
            register(&mut pipe.reader, cx.waker());
            return Poll::Pending;
        }
        let n = buf.len().min(pipe.bytes.len());
        for (to, from) in buf.iter_mut().zip(pipe.bytes.drain(..n)) {
            *to = from;
        }
        let writer = pipe.writer.take();
        drop(pipe);
        wake(writer); // there is room now
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for DuplexStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut pipe = lock(&self.write);
        if pipe.reader_gone || pipe.writer_gone {
            return Poll::Ready(Err(broken_pipe()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = pipe.capacity - pipe.bytes.len();
        if room == 0 {
            register(&mut pipe.writer, cx.waker());
            return Poll::Pending;
        }
        let n = room.min(buf.len());
        pipe.bytes.extend(&buf[..n]);
        let reader = pipe.reader.take();
        drop(pipe);
        wake(reader);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Written bytes are visible to the peer at once: nothing is held back to flush.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close_write();
        Poll::Ready(Ok(()))
    }
}

impl Drop for DuplexStream {
    fn drop(&mut self) {
        self.close_write();
        let mut pipe = lock(&self.read);
        pipe.reader_gone = true;
        pipe.bytes = VecDeque::new(); // nobody will read them: free the memory now
        let writer = pipe.writer.take();
        drop(pipe);
        wake(writer);
    }
}

impl fmt::Debug for DuplexStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DuplexStream")
            .field("capacity", &self.capacity())
            .field("buffered", &self.buffered())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use futures_lite::future::block_on;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A waker that counts its wake-ups, to check them without a runtime.
    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter::default());
        (counter.clone(), Waker::from(counter))
    }

    fn wakes(counter: &Counter) -> usize {
        counter.0.load(Ordering::SeqCst)
    }

    fn poll_write(s: &mut DuplexStream, waker: &Waker, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(s).poll_write(&mut Context::from_waker(waker), buf)
    }

    fn poll_read(s: &mut DuplexStream, waker: &Waker, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(s).poll_read(&mut Context::from_waker(waker), buf)
    }

    #[test]
    fn bytes_pass_both_ways() {
        let (mut a, mut b) = duplex(64).unwrap();
        block_on(async {
            a.write_all(b"ping").await.unwrap();
            b.write_all(b"pong").await.unwrap();
            let mut got = [0; 4];
            b.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"ping");
            a.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"pong");
        });
    }

    #[test]
    fn a_full_buffer_holds_the_writer_until_the_reader_reads() {
        let (mut a, mut b) = duplex(4).unwrap();
        let (writer, writer_waker) = counter();
        let (_, reader_waker) = counter();

        assert!(matches!(
            poll_write(&mut a, &writer_waker, b"abcdef"),
            Poll::Ready(Ok(4))
        ));
        assert!(poll_write(&mut a, &writer_waker, b"ef").is_pending()); // full: back-pressure
        assert_eq!(b.buffered(), 4);
        assert_eq!(wakes(&writer), 0);

        let mut got = [0; 3];
        assert!(matches!(
            poll_read(&mut b, &reader_waker, &mut got),
            Poll::Ready(Ok(3))
        ));
        assert_eq!(&got, b"abc");
        assert_eq!(wakes(&writer), 1); // room: the writer is woken once
        assert!(matches!(
            poll_write(&mut a, &writer_waker, b"ef"),
            Poll::Ready(Ok(2))
        ));
        let mut rest = [0; 8];
        assert!(matches!(
            poll_read(&mut b, &reader_waker, &mut rest),
            Poll::Ready(Ok(3))
        ));
        assert_eq!(&rest[..3], b"def");
    }

    #[test]
    fn a_waiting_reader_is_woken_by_a_write_once() {
        let (mut a, mut b) = duplex(16).unwrap();
        let (reader, reader_waker) = counter();
        let (_, writer_waker) = counter();
        let mut buf = [0; 8];
        assert!(poll_read(&mut b, &reader_waker, &mut buf).is_pending());
        assert!(poll_read(&mut b, &reader_waker, &mut buf).is_pending()); // same waker: kept once
        assert_eq!(wakes(&reader), 0);
        assert!(poll_write(&mut a, &writer_waker, b"x").is_ready());
        assert_eq!(wakes(&reader), 1);
        assert!(poll_write(&mut a, &writer_waker, b"y").is_ready());
        assert_eq!(wakes(&reader), 1); // taken by the first wake: nothing registered now
        assert!(matches!(
            poll_read(&mut b, &reader_waker, &mut buf),
            Poll::Ready(Ok(2))
        ));
    }

    #[test]
    fn closing_is_end_of_file_after_the_buffered_bytes() {
        let (mut a, mut b) = duplex(16).unwrap();
        let (reader, reader_waker) = counter();
        let mut buf = [0; 8];
        assert!(poll_read(&mut b, &reader_waker, &mut buf).is_pending());
        block_on(async {
            a.write_all(b"last").await.unwrap();
            a.close().await.unwrap();
        });
        assert_eq!(wakes(&reader), 1);
        assert!(matches!(
            poll_read(&mut b, &reader_waker, &mut buf),
            Poll::Ready(Ok(4))
        ));
        assert!(matches!(
            poll_read(&mut b, &reader_waker, &mut buf),
            Poll::Ready(Ok(0))
        ));
        // The closed end cannot write any more; the other direction still works.
        let err = block_on(a.write_all(b"more")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        block_on(b.write_all(b"reply")).unwrap();
        let mut reply = [0; 5];
        block_on(a.read_exact(&mut reply)).unwrap();
        assert_eq!(&reply, b"reply");
    }

    #[test]
    fn dropping_an_end_wakes_and_fails_the_peer() {
        let (a, mut b) = duplex(2).unwrap();
        let (reader, reader_waker) = counter();
        let (writer, writer_waker) = counter();
        let mut buf = [0; 8];
        assert!(poll_read(&mut b, &reader_waker, &mut buf).is_pending());
        assert!(poll_write(&mut b, &writer_waker, b"xyz").is_ready()); // 2 of 3 fit
        assert!(poll_write(&mut b, &writer_waker, b"z").is_pending()); // full

        drop(a);
        assert_eq!((wakes(&reader), wakes(&writer)), (1, 1)); // both waits end
        assert!(matches!(
            poll_read(&mut b, &reader_waker, &mut buf),
            Poll::Ready(Ok(0))
        ));
        match poll_write(&mut b, &writer_waker, b"z") {
            Poll::Ready(Err(err)) => assert_eq!(err.kind(), io::ErrorKind::BrokenPipe),
            other => panic!("expected a broken pipe, got {other:?}"),
        }
    }

    #[test]
    fn empty_reads_and_writes_return_at_once() {
        let (mut a, mut b) = duplex(1).unwrap();
        let (_, waker) = counter();
        assert!(matches!(
            poll_write(&mut a, &waker, b"x"),
            Poll::Ready(Ok(1))
        ));
        assert!(matches!(
            poll_write(&mut a, &waker, b""),
            Poll::Ready(Ok(0))
        )); // full, but empty
        assert!(matches!(
            poll_read(&mut b, &waker, &mut []),
            Poll::Ready(Ok(0))
        ));
        assert_eq!(b.buffered(), 1);
    }

    #[test]
    fn a_huge_capacity_allocates_only_what_is_written() {
        let (mut a, b) = duplex(usize::MAX).unwrap();
        block_on(a.write_all(&[1; 100])).unwrap();
        assert_eq!(b.buffered(), 100);
        assert_eq!(
            format!("{a:?}"),
            format!(
                "DuplexStream {{ capacity: {}, buffered: 0, .. }}",
                usize::MAX
            )
        );
    }

    #[test]
    fn many_bytes_through_a_small_pipe_on_two_threads() {
        let (mut a, mut b) = duplex(7).unwrap();
        let data: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = std::thread::spawn(move || {
            block_on(async {
                a.write_all(&sent).await.unwrap();
                a.close().await.unwrap();
            });
        });
        let mut got = Vec::new();
        block_on(b.read_to_end(&mut got)).unwrap();
        writer.join().unwrap();
        assert_eq!(got, data);
    }

    #[test]
    fn zero_capacity_is_an_error() {
        let err = duplex(0).unwrap_err();
        assert_eq!(err.to_string(), "duplex capacity must be at least one byte");
    }
}
