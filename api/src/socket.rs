//! A WebSocket's connection, taken over from HTTP: the handshake (RFC 6455 §4.2), the frames
//! the server writes, and the reading half tungstenite parses the client's frames from.
//!
//! The server writes its frames itself, as bytes (unmasked, so a frame is a two-to-ten-byte
//! header and the payload): a subscription's result is framed once and the same bytes go to
//! every subscriber whose operation has that id, each by one write of its own socket — no
//! per-socket framing, buffer, lock or waker in between (see [`crate::ws`]). tungstenite
//! reads and checks what the client sends (masking, fragments, size limits, UTF-8) and
//! answers its pings and closes; what it answers goes out through the same [`Outbox`] as
//! everything else, so that frames from different writers never interleave.

use crate::ws::Outbox;
use bytes::{BufMut, Bytes, BytesMut};
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// A text frame.
pub fn text(text: &str) -> Bytes {
    frame(0x1, &[text.as_bytes()])
}

/// A text frame of several pieces (a prefix, a shared payload, a suffix), copied once.
pub fn text_of(pieces: &[&[u8]]) -> Bytes {
    frame(0x1, pieces)
}

/// A close frame: the code and the reason (cut to the 123 bytes a control frame leaves it, at
/// a character boundary).
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    frame(0x8, &[&code.to_be_bytes(), &reason.as_bytes()[..end]])
}

/// A final, unmasked frame with `opcode` and the pieces as its payload.
fn frame(opcode: u8, pieces: &[&[u8]]) -> Bytes {
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    let mut out = BytesMut::with_capacity(len + 10);
    out.put_u8(0x80 | opcode);
    match len {
        0..=125 => out.put_u8(len as u8),
        126..=0xffff => {
            out.put_u8(126);
            out.put_u16(len as u16);
        }
        _ => {
            out.put_u8(127);
            out.put_u64(len as u64);
        }
    }
    for piece in pieces {
        out.put_slice(piece);
    }
    out.freeze()
}

/// The handshake's answer to `key` (`Sec-WebSocket-Accept`).
pub fn accept_key(key: &[u8]) -> String {
    tokio_tungstenite::tungstenite::handshake::derive_accept_key(key)
}

/// Where a socket's frames go.
pub enum Wire {
    /// A TCP stream's writing half, and its file descriptor: written straight from any task
    /// by one `send`, when the socket takes the bytes at once.
    Tcp(OwnedWriteHalf, std::os::fd::RawFd),
    /// Anything else that takes bytes.
    Other(Pin<Box<dyn AsyncWrite + Send>>),
}

impl Wire {
    /// Writes what the socket takes now, with no task to wake later: `Pending` when it takes
    /// nothing.
    pub fn try_write(&mut self, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Wire::Tcp(_, fd) => {
                // Straight to the kernel: a thousand sockets are a thousand of these in a row,
                // and tokio's bookkeeping for each (its readiness, in memory the loop would
                // otherwise touch once per socket) is not needed to write what fits. A socket
                // that is full answers EAGAIN; the session's task then writes through tokio,
                // which learns from its own attempt that the socket is not ready.
                // SAFETY: `fd` belongs to the write half beside it, alive as long as `self`;
                // `buf` is valid for `buf.len()` bytes; `send` keeps neither.
                let sent =
                    unsafe { libc::send(*fd, buf.as_ptr().cast(), buf.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
                match usize::try_from(sent) {
                    Ok(n) => Poll::Ready(Ok(n)),
                    Err(_) => match io::Error::last_os_error() {
                        e if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
                        e if e.kind() == io::ErrorKind::Interrupted => self.try_write(buf),
                        e => Poll::Ready(Err(e)),
                    },
                }
            }
            Wire::Other(other) => other.as_mut().poll_write(&mut Context::from_waker(Waker::noop()), buf),
        }
    }

    /// Writes what the socket takes, or has `cx`'s task woken when it can take more.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Wire::Tcp(tcp, _) => Pin::new(tcp).poll_write(cx, buf),
            Wire::Other(other) => other.as_mut().poll_write(cx, buf),
        }
    }
}

/// The connection's halves once upgraded: what the client sends (after any bytes HTTP read
/// ahead) and where the server's frames go.
fn halves(upgraded: hyper::upgrade::Upgraded) -> (Pin<Box<dyn AsyncRead + Send>>, Wire) {
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => {
            use std::os::fd::AsRawFd;
            let tcp = parts.io.into_inner();
            let fd = tcp.as_raw_fd();
            let (read, write) = tcp.into_split();
            (Box::pin(io::Cursor::new(parts.read_buf).chain(read)), Wire::Tcp(write, fd))
        }
        Err(upgraded) => {
            let (read, write) = tokio::io::split(TokioIo::new(upgraded));
            (Box::pin(read), Wire::Other(Box::pin(write)))
        }
    }
}

/// An upgraded connection as a WebSocket: the client's messages, and the outbox the server
/// writes to.
pub async fn open(
    upgraded: hyper::upgrade::Upgraded,
    config: WebSocketConfig,
) -> (WebSocketStream<Duplex>, Arc<Outbox>) {
    let (read, write) = halves(upgraded);
    let outbox = Outbox::new(write);
    let duplex = Duplex { read, outbox: outbox.clone() };
    (WebSocketStream::from_raw_socket(duplex, Role::Server, Some(config)).await, outbox)
}

/// What tungstenite reads from and writes to: the reading half, and the outbox (tungstenite
/// writes whole frames — pongs, the answer to a close — in one write).
pub struct Duplex {
    read: Pin<Box<dyn AsyncRead + Send>>,
    outbox: Arc<Outbox>,
}

impl AsyncRead for Duplex {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.read.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for Duplex {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(match self.outbox.send(Bytes::copy_from_slice(buf)) {
            Ok(()) => Ok(buf.len()),
            Err(_) => Err(io::ErrorKind::BrokenPipe.into()),
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The outbox writes what it is given, or its session's task finishes it.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_length_in_the_shortest_form() {
        assert_eq!(&text("hi")[..], b"\x81\x02hi");
        let medium = text(&"x".repeat(300));
        assert_eq!(&medium[..4], &[0x81, 126, 1, 44]);
        assert_eq!(medium.len(), 304);
        let long = text_of(&[b"{", "y".repeat(70_000).as_bytes(), b"}"]);
        assert_eq!(&long[..10], &[0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x72]);
        assert_eq!(long.len(), 70_012);
        // 123 bytes of reason at most, cut where a character ends.
        let closing = close(4403, &"é".repeat(100));
        assert_eq!(&closing[..4], &[0x88, 124, 0x11, 0x33]);
        assert_eq!(closing.len(), 2 + 2 + 122);
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* RFC 6455 §1.3 */);
    }
}
