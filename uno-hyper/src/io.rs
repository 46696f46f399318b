//! [`UnoIo`]: a `futures-io` stream as hyper's I/O, and hyper's I/O as a `futures-io` stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncRead, AsyncWrite};
use hyper::rt::{ReadBuf, ReadBufCursor};

/// The most a hyper read asks of the inner stream at once, and so the largest the scratch buffer
/// of a [`UnoIo`] grows (hyper's own read buffer starts at 8 KiB and adapts).
const MAX_READ: usize = 64 * 1024;

pin_project_lite::pin_project! {
    /// Wraps an I/O stream so that it speaks the other side's traits, in both directions:
    ///
    /// - over a `futures-io` [`AsyncRead`] + [`AsyncWrite`] stream (smol's and async-std's
    ///   `TcpStream`, tokio's through `tokio_util::compat`, [`mem::DuplexStream`](crate::mem::DuplexStream),
    ///   a TLS stream), it is hyper's [`hyper::rt::Read`] + [`hyper::rt::Write`]: hand it to
    ///   `hyper::client::conn::http1::handshake` or `serve_connection`;
    /// - over hyper's I/O (`hyper::upgrade::Upgraded` after a `CONNECT` or a WebSocket upgrade),
    ///   it is a `futures-io` stream.
    ///
    /// # Copies
    ///
    /// The workspace forbids `unsafe`, and hyper's [`ReadBufCursor`] can only be filled safely by
    /// copying into it (`put_slice`; marking bytes as filled in place is `unsafe`). So a hyper read
    /// through `UnoIo` reads from the stream into a scratch buffer of its own, then copies the bytes
    /// read into hyper's buffer: **one `memcpy` of the bytes actually read**. The scratch buffer is
    /// allocated and zeroed **once**, at the first read, and grows (zeroing only the new part) up to
    /// 64 KiB as hyper asks for more; it is never zeroed again. Writes are zero-copy (hyper's bytes
    /// go straight to the stream), and so are both directions of the reverse wrapper (a
    /// `futures-io` read fills the caller's initialised slice through `ReadBuf::new`).
    ///
    /// Vectored writes: `futures-io` cannot tell whether a stream writes vectors natively, so
    /// `is_write_vectored` answers `false` and hyper gathers its buffers into one write.
    ///
    /// # Errors
    ///
    /// The stream's own I/O errors, passed through unchanged; and `InvalidData` from a hyper read
    /// if the stream reports more bytes read than the buffer it was given (a broken stream, which
    /// would otherwise panic inside hyper).
    ///
    /// # Cancel safety
    ///
    /// Every method is a `poll_*` that keeps no bytes between calls: what a read takes from the
    /// stream is copied out in the same call, so dropping a read or a write that returned
    /// `Pending` loses nothing that the stream itself would not.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::future::block_on;
    /// use uno_hyper::{UnoIo, mem};
    ///
    /// let (ours, mut theirs) = mem::duplex(1024).unwrap();
    /// let mut io = UnoIo::new(ours); // hyper's Read + Write now
    /// block_on(async {
    ///     use futures_lite::AsyncReadExt;
    ///     use std::future::poll_fn;
    ///     use std::pin::Pin;
    ///
    ///     poll_fn(|cx| hyper::rt::Write::poll_write(Pin::new(&mut io), cx, b"ping")).await.unwrap();
    ///     let mut got = [0; 4];
    ///     theirs.read_exact(&mut got).await.unwrap();
    ///     assert_eq!(&got, b"ping");
    /// });
    /// ```
    pub struct UnoIo<T> {
        #[pin]
        inner: T,
        // Reads of a hyper read land here first: see "Copies".
        scratch: Vec<u8>,
    }
}

impl<T> UnoIo<T> {
    /// Wraps `inner`. Allocates nothing until the first hyper read.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_hyper::{UnoIo, mem};
    ///
    /// let (a, _b) = mem::duplex(64).unwrap();
    /// let io = UnoIo::new(a);
    /// assert_eq!(io.get_ref().capacity(), 64);
    /// ```
    pub fn new(inner: T) -> Self {
        UnoIo {
            inner,
            scratch: Vec::new(),
        }
    }

    /// The wrapped stream.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_hyper::{UnoIo, mem};
    /// let (a, _b) = mem::duplex(64).unwrap();
    /// assert_eq!(UnoIo::new(a).get_ref().capacity(), 64);
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably. Reading from it directly bypasses nothing: `UnoIo` keeps no
    /// bytes between calls.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_hyper::{UnoIo, mem};
    /// let (a, _b) = mem::duplex(64).unwrap();
    /// let mut io = UnoIo::new(a);
    /// let _stream: &mut uno_hyper::mem::DuplexStream = io.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// The wrapped stream, pinned.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::pin::Pin;
    /// # use uno_hyper::{UnoIo, mem};
    /// let (a, _b) = mem::duplex(64).unwrap();
    /// let mut io = UnoIo::new(a);
    /// let _pinned: Pin<&mut uno_hyper::mem::DuplexStream> = Pin::new(&mut io).get_pin_mut();
    /// ```
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut T> {
        self.project().inner
    }

    /// Unwraps the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_hyper::{UnoIo, mem};
    /// let (a, _b) = mem::duplex(64).unwrap();
    /// let stream = UnoIo::new(a).into_inner();
    /// assert_eq!(stream.capacity(), 64);
    /// ```
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for UnoIo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnoIo")
            .field("inner", &self.inner)
            .field("scratch", &self.scratch.len())
            .finish()
    }
}

/// A `futures-io` stream as hyper's reader.
impl<T: AsyncRead> hyper::rt::Read for UnoIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let want = buf.remaining().min(MAX_READ);
        if this.scratch.len() < want {
            // Zeroed once per size reached, never per read.
            this.scratch.resize(want, 0);
        }
        let n = ready!(this.inner.poll_read(cx, &mut this.scratch[..want]))?;
        // A stream that claims more than it was given must not panic inside hyper.
        let read = this.scratch.get(..n).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the stream reported more bytes read than the buffer holds",
            )
        })?;
        buf.put_slice(read);
        Poll::Ready(Ok(()))
    }
}

/// A `futures-io` stream as hyper's writer.
impl<T: AsyncWrite> hyper::rt::Write for UnoIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_close(cx)
    }
}

/// hyper's reader (an upgraded connection) as a `futures-io` stream; zero-copy.
impl<T: hyper::rt::Read> AsyncRead for UnoIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut read_buf = ReadBuf::new(buf);
        ready!(self.project().inner.poll_read(cx, read_buf.unfilled()))?;
        Poll::Ready(Ok(read_buf.filled().len()))
    }
}

/// hyper's writer (an upgraded connection) as a `futures-io` stream.
impl<T: hyper::rt::Write> AsyncWrite for UnoIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use futures_lite::future::block_on;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::mem;

    /// A reader that lies about how much it read.
    struct Liar;

    impl AsyncRead for Liar {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len() + 1))
        }
    }

    fn hyper_read(io: &mut UnoIo<impl AsyncRead + Unpin>, into: &mut [u8]) -> io::Result<usize> {
        let mut buf = ReadBuf::new(into);
        block_on(poll_fn(|cx| {
            hyper::rt::Read::poll_read(Pin::new(&mut *io), cx, buf.unfilled())
        }))?;
        Ok(buf.filled().len())
    }

    #[test]
    fn a_stream_claiming_too_many_bytes_is_an_error_not_a_panic() {
        let mut io = UnoIo::new(Liar);
        let err = hyper_read(&mut io, &mut [0; 16]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn hyper_reads_copy_only_what_was_read_and_the_scratch_is_kept() {
        let (a, mut b) = mem::duplex(1 << 20).unwrap();
        let mut io = UnoIo::new(a);
        block_on(b.write_all(b"hello")).unwrap();
        let mut into = [0; 100];
        assert_eq!(hyper_read(&mut io, &mut into).unwrap(), 5);
        assert_eq!(&into[..5], b"hello");
        assert_eq!(io.scratch.len(), 100); // what hyper offered, zeroed once

        // A larger offer grows the scratch, capped at MAX_READ.
        block_on(b.write_all(&vec![7; 2 * MAX_READ])).unwrap();
        let mut big = vec![0; 2 * MAX_READ];
        assert_eq!(hyper_read(&mut io, &mut big).unwrap(), MAX_READ);
        assert_eq!(io.scratch.len(), MAX_READ);
        assert!(big[..MAX_READ].iter().all(|&b| b == 7));
    }

    #[test]
    fn hyper_io_reads_back_as_futures_io() {
        // UnoIo<UnoIo<T>>: the outer wrapper turns hyper's traits back into futures-io.
        let (a, b) = mem::duplex(64).unwrap();
        let mut there = UnoIo::new(UnoIo::new(a));
        let mut back = b;
        block_on(async {
            there.write_all(b"round trip").await.unwrap();
            there.flush().await.unwrap();
            let mut got = [0; 10];
            back.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"round trip");

            back.write_all(b"and back").await.unwrap();
            back.close().await.unwrap();
            let mut all = Vec::new();
            there.read_to_end(&mut all).await.unwrap();
            assert_eq!(all, b"and back");

            there.close().await.unwrap(); // poll_shutdown underneath
            let mut rest = Vec::new();
            assert_eq!(back.read_to_end(&mut rest).await.unwrap(), 0);
        });
    }
}
