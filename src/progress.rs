//! Progress lines on stderr for long work, at most two a second.

use graph_engine::Progress;
use parking_lot::Mutex;
use std::time::Instant;

/// Prints `stage: done/total (pct%)` lines to stderr, throttled.
pub struct StderrProgress {
    last: Mutex<Option<(Instant, String)>>,
    started: Instant,
}

impl StderrProgress {
    /// A reporter starting now.
    pub fn new() -> StderrProgress {
        StderrProgress { last: Mutex::new(None), started: Instant::now() }
    }
}

impl Default for StderrProgress {
    fn default() -> Self {
        StderrProgress::new()
    }
}

impl Progress for StderrProgress {
    fn update(&self, stage: &str, done: u64, total: u64) {
        let mut last = self.last.lock();
        let finished = total > 0 && done >= total;
        if let Some((at, previous)) = last.as_ref()
            && previous == stage
            && !finished
            && at.elapsed().as_millis() < 500
        {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        if total > 0 {
            let pct = done as f64 * 100.0 / total as f64;
            eprintln!("[{elapsed:7.2}s] {stage}: {done}/{total} ({pct:.0}%)");
        } else {
            eprintln!("[{elapsed:7.2}s] {stage}: {done}");
        }
        *last = Some((Instant::now(), stage.to_owned()));
    }
}
