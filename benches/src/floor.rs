//! The floor under subscription fan-out (`loopback_floor`, `api_subscribers --floor`): a
//! 120-byte message stamped with the moment its round began, written to loopback sockets with
//! plain blocking writes, and read by one task per socket on the caller's tokio runtime.

use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// The floor's message: the stamp (microseconds since the Unix epoch, little-endian), then
/// padding.
pub const MESSAGE: usize = 120;

/// Microseconds since the Unix epoch (one machine, one clock for writer and reader).
pub fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64
}

/// How often a round (an event, or the floor's write to every socket) starts, in
/// milliseconds: `PACE_MS`, 50 unless set. The server and the floor are offered the same load
/// only at the same pace (at 10,000 sockets one round takes about as long as 50 ms).
pub fn pace_ms() -> u64 {
    std::env::var("PACE_MS").ok().and_then(|p| p.parse().ok()).filter(|&p| p > 0).unwrap_or(50)
}

/// A message stamped now.
pub fn message() -> [u8; MESSAGE] {
    let mut message = [b'x'; MESSAGE];
    message[..8].copy_from_slice(&now_us().to_le_bytes());
    message
}

/// What the readers saw: each message's stamp and its write -> read time in ms.
pub type Reads = Arc<parking_lot::Mutex<Vec<(u64, f64)>>>;

/// Connects `n` sockets to `addr` (from 127.0.0.2 to 127.0.0.9 in turn, as the subscribers'
/// are) and spawns a reader on each, which stops after `rounds` messages (if given) or when
/// the writer closes; returns their tasks and what they record.
pub async fn readers(
    addr: std::net::SocketAddr,
    n: usize,
    rounds: Option<usize>,
) -> (Vec<tokio::task::JoinHandle<()>>, Reads) {
    let reads: Reads = Arc::default();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, 2 + (i % 8) as u8], 0))).unwrap();
        let mut client = socket.connect(addr).await.unwrap();
        client.set_nodelay(true).unwrap();
        let reads = reads.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * MESSAGE];
            let mut pending = Vec::new();
            let mut seen = 0;
            while rounds.is_none_or(|r| seen < r) {
                let Ok(read) = client.read(&mut buf).await else { break };
                if read == 0 {
                    break;
                }
                let at = now_us();
                pending.extend_from_slice(&buf[..read]);
                while pending.len() >= MESSAGE {
                    let stamp = u64::from_le_bytes(pending[..8].try_into().unwrap());
                    reads.lock().push((stamp, at.saturating_sub(stamp) as f64 / 1e3));
                    pending.drain(..MESSAGE);
                    seen += 1;
                }
            }
        }));
    }
    (tasks, reads)
}
