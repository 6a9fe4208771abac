//! `kill -9` during an import and during single writes, repeated: afterwards the log verifies,
//! every acknowledged event is present, and the graph is the replay of the log.

use crate::{daira, run, stats};
use graph_engine::LogReader;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::Duration;

/// A conversation with `daira exec`.
pub struct Session {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// An acknowledgement line: `ok seq=N hash=H [id=ID]`.
pub struct Ack(String);

impl Ack {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.0.split_whitespace().find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
    }
    pub fn id(&self) -> String {
        self.field("id").unwrap_or_else(|| panic!("no id in {:?}", self.0)).to_string()
    }
    pub fn seq(&self) -> u64 {
        self.field("seq").unwrap().parse().unwrap()
    }
}

impl Session {
    pub fn new(child: &mut Child) -> Session {
        Session { stdin: child.stdin.take().unwrap(), stdout: BufReader::new(child.stdout.take().unwrap()) }
    }

    pub fn send_raw(&mut self, line: &str) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).unwrap();
        answer.trim().to_string()
    }

    pub fn send(&mut self, line: &str) -> Ack {
        let answer = self.send_raw(line);
        assert!(answer.starts_with("ok "), "{line} -> {answer}");
        Ack(answer)
    }
}

fn check_acknowledged(data: &std::path::Path, acks: &[(u64, String)]) {
    let out = run(data, &["audit", "verify"]);
    assert!(out.status.success(), "the log verifies: {}", String::from_utf8_lossy(&out.stdout));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let log = graph_engine::EngineConfig::new(data).open_log().await.unwrap();
        for (seq, hash) in acks {
            let record = log.get(*seq).await.unwrap().unwrap_or_else(|| panic!("acknowledged event {seq} is present"));
            assert_eq!(&graph_engine::log::hex(&record.hash), hash, "event {seq} is the one acknowledged");
        }
        log.close().await;
    });
}

#[test]
fn kill_during_single_writes_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut acks: Vec<(u64, String)> = Vec::new();
    let mut worlds_acked = 0u64;
    for round in 0..4u64 {
        let mut child = daira(&data)
            .arg("exec")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut session = Session::new(&mut child);
        let user = session.send("{\"register_user\":{}}");
        acks.push((user.seq(), user.field("hash").unwrap().into()));
        let mask = session.send(&format!(
            "{{\"create_mask\":{{\"user\":\"{}\",\"kind\":\"creator\",\"handle\":\"crash_{round}\"}}}}",
            user.id()
        ));
        acks.push((mask.seq(), mask.field("hash").unwrap().into()));
        // Stream world creations without waiting, reading acknowledgements as they come, and
        // kill the process at an arbitrary point in the stream.
        let line = format!(
            "{{\"create_world\":{{\"user\":\"{}\",\"mask\":\"{}\",\"name\":\"عالم {round}\"}}}}\n",
            user.id(),
            mask.id()
        );
        let writer = std::thread::spawn({
            let mut stdin = session.stdin;
            move || {
                for _ in 0..2_000 {
                    if stdin.write_all(line.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
        let kill_after = 30 + round * 47;
        let mut answer = String::new();
        for _ in 0..kill_after {
            answer.clear();
            if session.stdout.read_line(&mut answer).unwrap() == 0 {
                break;
            }
            let ack = Ack(answer.trim().to_string());
            assert!(answer.starts_with("ok "), "{answer}");
            acks.push((ack.seq(), ack.field("hash").unwrap().into()));
            worlds_acked += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let _ = writer.join();
        check_acknowledged(&data, &acks);
        let worlds = stats(&data)["vertices"]["world"].as_u64().unwrap();
        assert!(worlds >= worlds_acked, "every acknowledged world is there ({worlds} >= {worlds_acked})");
        worlds_acked = worlds; // unacknowledged but committed ones count from now on
    }
}

#[test]
fn kill_during_import_leaves_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("edges.snap");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        let (src, dst) = benches_free_rmat(15);
        for (a, b) in src.iter().zip(&dst) {
            writeln!(w, "{a}\t{b}").unwrap();
        }
    }
    let mut completed = None;
    // Kill at fixed points while the file is read and parsed, then at growing delays after the
    // import announces its commit, so that some kills land inside the log transaction.
    let plan: [(bool, u64); 10] = [
        (false, 5),
        (false, 60),
        (true, 0),
        (true, 2),
        (true, 5),
        (true, 10),
        (true, 20),
        (true, 40),
        (true, 80),
        (true, 400),
    ];
    for (round, (after_commit_starts, delay_ms)) in plan.into_iter().enumerate() {
        let before = stats(&data);
        let mut child = daira(&data)
            .args(["import", file.to_str().unwrap(), "--format", "snap"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if line.contains("commit:") {
                    let _ = tx.send(());
                }
            }
        });
        if after_commit_starts {
            let _ = rx.recv_timeout(Duration::from_secs(60));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let _ = reader.join();
        let out = run(&data, &["audit", "verify"]);
        assert!(out.status.success(), "round {round}: the log verifies after kill -9");
        let after = stats(&data);
        let follows = after["edges"]["follows"].as_u64().unwrap();
        eprintln!(
            "round {round}: killed {delay_ms} ms after {} (exit {status:?}); follows now {follows}",
            if after_commit_starts { "the commit began" } else { "start" }
        );
        if after["log"] == before["log"] {
            assert_eq!(after, before, "round {round}: nothing half-applied");
        } else {
            // The import committed before the kill: all of it is there, exactly once.
            let full = completed.get_or_insert(follows);
            assert_eq!(follows, *full, "round {round}: the whole import");
            assert!(status.success() || follows > 0);
        }
        if completed.is_some() {
            break;
        }
    }
    // Whatever happened, a clean import still goes through on top (ids are reused).
    let out = run(&data, &["import", file.to_str().unwrap(), "--format", "snap"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(run(&data, &["audit", "verify"]).status.success());
}

/// A small skewed edge list (R-MAT-like), without depending on the benches crate.
fn benches_free_rmat(scale: u32) -> (Vec<u64>, Vec<u64>) {
    let mut rng = schema::SplitMix64::new(0x1234_5678);
    let mut next = move || rng.next_u64() as f64 / u64::MAX as f64;
    let m = 16usize << scale;
    let (mut src, mut dst) = (Vec::with_capacity(m), Vec::with_capacity(m));
    for _ in 0..m {
        let (mut u, mut v) = (0u64, 0u64);
        for level in 0..scale {
            let r = next();
            if r > 0.57 + 0.19 {
                u |= 1 << level;
            }
            if (0.57..0.76).contains(&r) || r > 0.95 {
                v |= 1 << level;
            }
        }
        src.push(u);
        dst.push(v);
    }
    (src, dst)
}
