//! The floor under subscription fan-out on this machine: one thread writes a 120-byte
//! message to each of N loopback TCP sockets (plain blocking writes, nothing else), and a
//! one-thread tokio runtime with one task per socket reads them, as `api_subscribers` does.
//! Prints the percentiles of write → read over M rounds, 50 ms apart. Whatever a server does
//! on top of this, it cannot beat it.
//!
//! ```text
//! cargo run --release -p benches --bin loopback_floor -- [N] [M]
//! ```

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(1000, |a| a.parse().expect("N"));
    let rounds: usize = args.next().map_or(100, |a| a.parse().expect("M"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let received: Arc<parking_lot::Mutex<Vec<(usize, Instant)>>> = Arc::default();
    let mut writers = Vec::with_capacity(n);
    runtime.block_on(async {
        for _ in 0..n {
            let client = tokio::net::TcpStream::connect(addr).await.unwrap();
            client.set_nodelay(true).unwrap();
            let (server, _) = listener.accept().unwrap();
            server.set_nodelay(true).unwrap();
            writers.push(server);
            let received = received.clone();
            tokio::spawn(async move {
                let mut client = client;
                let mut buf = [0u8; 4096];
                let mut round = 0;
                while let Ok(read) = client.read(&mut buf).await {
                    if read == 0 {
                        break;
                    }
                    received.lock().push((round, Instant::now()));
                    round += 1;
                }
            });
        }
    });
    let message = [b'x'; 120];
    let (starts_tx, starts_rx) = std::sync::mpsc::channel();
    let (spans_tx, spans_rx) = std::sync::mpsc::channel();
    // WRITERS threads split the sockets between them, as a server's workers would.
    let threads: usize = std::env::var("WRITERS").ok().and_then(|t| t.parse().ok()).unwrap_or(1);
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        let chunk = writers.len().div_ceil(threads);
        let mut parts: Vec<Vec<std::net::TcpStream>> = Vec::new();
        while !writers.is_empty() {
            let rest = writers.split_off(chunk.min(writers.len()));
            parts.push(std::mem::replace(&mut writers, rest));
        }
        for _ in 0..rounds {
            starts_tx.send(Instant::now()).unwrap();
            let began = Instant::now();
            std::thread::scope(|scope| {
                for part in &mut parts {
                    scope.spawn(|| {
                        for socket in part.iter_mut() {
                            socket.write_all(&message).unwrap();
                        }
                    });
                }
            });
            spans_tx.send(began.elapsed().as_secs_f64() * 1e3).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(500));
    });
    runtime.block_on(async {
        while !writer.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let starts: Vec<Instant> = starts_rx.try_iter().collect();
    let mut spans: Vec<f64> = spans_rx.try_iter().collect();
    spans.sort_by(f64::total_cmp);
    let mut latencies: Vec<f64> = received
        .lock()
        .iter()
        .filter_map(|&(round, at)| starts.get(round).map(|s| at.duration_since(*s).as_secs_f64() * 1e3))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!("writing all {n}: median {:.2} ms, max {:.2} ms", spans[spans.len() / 2], spans[spans.len() - 1]);
    println!(
        "{n} sockets, {rounds} rounds, {} reads: write -> read ms p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        latencies.len(),
        p(0.5),
        p(0.9),
        p(0.99),
        latencies[latencies.len() - 1]
    );
}
