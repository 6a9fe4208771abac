//! A WebSocket subscriber that reads its frames as barely as the floor's reader reads its
//! messages (`api_subscribers --client bare`): the upgrade, `connection_init` and `subscribe`
//! written by hand (RFC 6455, masked as a client must), then each server frame cut out of the
//! bytes as they come — a two-to-ten-byte header and its payload, no copy of a whole message
//! into a library's buffers, no per-poll waker proxy. What is left between the commit and its
//! receipt is then the server's and the wire's, not a client library's.
//!
//! It speaks only what a subscriber needs: text frames in one piece (the server sends no
//! fragments), pings (answered), close (the end).

use std::io::{Error, ErrorKind, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The key of the upgrade (any 16 bytes, base64): the server's answer is not checked here, its
/// `101` is.
const KEY: &str = "ZGFpcmEtYmVuY2gtc3Vicw==";

/// A message read off the socket.
pub enum Frame<'a> {
    /// A text message.
    Text(&'a [u8]),
    /// The server closed the connection (or the socket ended).
    Closed,
}

/// A subscriber's connection, upgraded.
pub struct BareSocket {
    stream: TcpStream,
    /// Bytes read and not yet handed out.
    buf: Vec<u8>,
    /// Where the next frame starts in `buf`.
    at: usize,
}

impl BareSocket {
    /// Upgrades `stream` to a WebSocket at `path` with the `graphql-transport-ws` protocol.
    pub async fn upgrade(mut stream: TcpStream, host: &str, path: &str) -> Result<BareSocket> {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut buf = Vec::with_capacity(4096);
        let end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            if stream.read_buf(&mut buf).await? == 0 || buf.len() > 16 * 1024 {
                return Err(Error::new(ErrorKind::InvalidData, "no answer to the upgrade"));
            }
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            return Err(Error::new(ErrorKind::InvalidData, format!("the upgrade was refused: {head}")));
        }
        Ok(BareSocket { stream, buf, at: end })
    }

    /// Sends a text message (masked).
    pub async fn send(&mut self, text: &str) -> Result<()> {
        let frame = client_frame(0x1, text.as_bytes());
        self.stream.write_all(&frame).await
    }

    /// The next text message: pings are answered on the way.
    pub async fn next(&mut self) -> Result<Frame<'_>> {
        loop {
            match cut(&self.buf[self.at..])? {
                Some((opcode, start, end)) => {
                    let (start, end) = (self.at + start, self.at + end);
                    self.at = end;
                    match opcode {
                        0x1 => return Ok(Frame::Text(&self.buf[start..end])),
                        0x8 => return Ok(Frame::Closed),
                        0x9 => {
                            let pong = client_frame(0xA, &self.buf[start..end]);
                            self.stream.write_all(&pong).await?;
                        }
                        0xA => {}
                        other => {
                            return Err(Error::new(ErrorKind::InvalidData, format!("unexpected opcode {other:#x}")));
                        }
                    }
                }
                None => {
                    // Keep what is left of a partial frame at the front, then read more.
                    if self.at > 0 {
                        self.buf.drain(..self.at);
                        self.at = 0;
                    }
                    if self.buf.capacity() - self.buf.len() < 1024 {
                        self.buf.reserve(4096);
                    }
                    if self.stream.read_buf(&mut self.buf).await? == 0 {
                        return Ok(Frame::Closed);
                    }
                }
            }
        }
    }
}

/// The first whole frame in `bytes`: its opcode and where its payload starts and ends; `None`
/// when more bytes are needed.
fn cut(bytes: &[u8]) -> Result<Option<(u8, usize, usize)>> {
    let [first, second, ..] = *bytes else { return Ok(None) };
    if first & 0x80 == 0 {
        return Err(Error::new(ErrorKind::InvalidData, "a fragmented frame (the server sends none)"));
    }
    if second & 0x80 != 0 {
        return Err(Error::new(ErrorKind::InvalidData, "a masked frame from the server"));
    }
    let (len, header) = match second & 0x7f {
        126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
        127 if bytes.len() >= 10 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize, 10),
        126 | 127 => return Ok(None),
        len => (len as usize, 2),
    };
    Ok((bytes.len() >= header + len).then_some((first & 0x0f, header, header + len)))
}

/// A client's frame: final, with `opcode`, masked.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x17, 0xc3, 0x8e];
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | opcode);
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_at_every_length_form() {
        // Unmasked server frames: 5 bytes, 300 bytes (16-bit length), 70,000 (64-bit).
        for len in [5usize, 300, 70_000] {
            let mut frame = vec![0x81];
            match len {
                0..=125 => frame.push(len as u8),
                126..=0xffff => {
                    frame.push(126);
                    frame.extend_from_slice(&(len as u16).to_be_bytes());
                }
                _ => {
                    frame.push(127);
                    frame.extend_from_slice(&(len as u64).to_be_bytes());
                }
            }
            let header = frame.len();
            frame.extend(std::iter::repeat_n(b'a', len));
            frame.extend_from_slice(&[0x89, 0]);
            assert_eq!(cut(&frame).unwrap(), Some((1, header, header + len)));
            assert_eq!(cut(&frame[..frame.len() - 3]).unwrap(), None, "a partial frame waits");
            assert_eq!(cut(&frame[header + len..]).unwrap(), Some((9, 2, 2)), "then a ping");
        }
        assert!(cut(&[0x01, 0]).is_err(), "a fragment");
        assert!(cut(&[0x81, 0x80]).is_err(), "a masked frame");
    }

    #[test]
    fn a_client_frame_is_masked() {
        let frame = client_frame(0x1, b"hi");
        assert_eq!(&frame[..2], &[0x81, 0x82]);
        let mask = &frame[2..6];
        assert_eq!([frame[6] ^ mask[0], frame[7] ^ mask[1]], *b"hi");
    }
}
