//! `history.jsonl`: every operation of the workload, appended by a thread of its own as the
//! operations return, so the history is on disk, not in memory.

use crate::record::HistoryLine;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Mutex;

pub struct HistoryWriter {
    pub path: PathBuf,
    tx: Mutex<Option<mpsc::Sender<HistoryLine>>>,
    thread: Mutex<Option<std::thread::JoinHandle<Result<(), String>>>>,
}

impl HistoryWriter {
    pub fn create(path: &Path) -> Result<HistoryWriter, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (tx, rx) = mpsc::channel::<HistoryLine>();
        let shown = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("etcd-drill-history".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(file);
                let fail = |e: std::io::Error| format!("{shown}: {e}");
                for line in rx {
                    serde_json::to_writer(&mut out, &line).map_err(|e| format!("{shown}: {e}"))?;
                    out.write_all(b"\n").map_err(fail)?;
                }
                out.flush().map_err(fail)
            })
            .map_err(|e| e.to_string())?;
        Ok(HistoryWriter {
            path: path.to_path_buf(),
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn send(&self, line: HistoryLine) {
        if let Ok(tx) = self.tx.lock() {
            if let Some(tx) = tx.as_ref() {
                let _ = tx.send(line);
            }
        }
    }

    /// No more lines: waits until every line is on disk.
    pub fn finish(&self) -> Result<(), String> {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        match thread {
            Some(t) => t
                .join()
                .map_err(|_| "the history writer panicked".to_string())?,
            None => Ok(()),
        }
    }
}
