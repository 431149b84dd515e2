//! Reading a recorded history: `history.jsonl`, one JSON line per operation, restore or watch
//! delivery, into one list per kind.

use crate::record::{HistoryLine, HistoryOp, RestoreMark, WatchDelivery};

/// Calls `f` with each line of the file; an unreadable line is an error naming it.
pub(super) fn each_line(
    path: &std::path::Path,
    mut f: impl FnMut(HistoryLine),
) -> Result<(), String> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let (mut line, mut n) = (String::new(), 0usize);
    loop {
        line.clear();
        n += 1;
        let read = reader
            .read_line(&mut line)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if read == 0 {
            return Ok(());
        }
        if line.trim().is_empty() {
            continue;
        }
        f(serde_json::from_str(&line).map_err(|e| format!("{}:{n}: {e}", path.display()))?);
    }
}

/// A history's lines, by kind.
#[derive(Default)]
pub(super) struct History {
    pub(super) ops: Vec<HistoryOp>,
    pub(super) restores: Vec<RestoreMark>,
    pub(super) watches: Vec<WatchDelivery>,
}

impl History {
    pub(super) fn push(&mut self, line: HistoryLine) {
        match line {
            HistoryLine::Op(o) => self.ops.push(o),
            HistoryLine::Restore(r) => self.restores.push(r),
            HistoryLine::Watch(w) => self.watches.push(w),
        }
    }
}
