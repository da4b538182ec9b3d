//! What the scanner remembers about one log file.

use std::path::PathBuf;

use rustc_hash::FxHashMap;

use crate::codex::CodexState;
use crate::record::{LogSource, Record, RecordKey};

/// (message, request, sidechain) of a Claude record, for in-file reduction.
pub(crate) type ClaudeKey = (u128, Option<u128>, bool);

#[derive(Debug, Clone)]
pub(crate) struct FileState {
    pub(crate) path: PathBuf,
    pub(crate) provider: LogSource,
    pub(crate) project: Option<String>,
    /// Size and modification time when last read.
    pub(crate) size: u64,
    pub(crate) mtime: (i64, u32),
    /// Byte offset just after the last consumed line.
    pub(crate) offset: u64,
    /// `false` when the parser state depends on bytes not yet written (a young Codex
    /// subagent rollout): the next change re-reads the file from the start.
    pub(crate) resumable: bool,
    pub(crate) codex: CodexState,
    /// Records with global string ids; Claude copies of one (message, request,
    /// sidechain) are reduced to the best one per file.
    pub(crate) records: Vec<Record>,
    pub(crate) claude_index: FxHashMap<ClaudeKey, usize>,
    /// Whether the last walk saw the file.
    pub(crate) present: bool,
}

impl FileState {
    pub(crate) fn new(path: PathBuf, provider: LogSource, project: Option<String>) -> FileState {
        FileState {
            path,
            provider,
            project,
            size: 0,
            mtime: (0, 0),
            offset: 0,
            resumable: true,
            codex: CodexState::default(),
            records: Vec::new(),
            claude_index: FxHashMap::default(),
            present: true,
        }
    }

    pub(crate) fn rebuild_index(&mut self) {
        self.claude_index.clear();
        for (position, record) in self.records.iter().enumerate() {
            if let RecordKey::Claude {
                message,
                request,
                sidechain,
            } = record.key
            {
                self.claude_index
                    .insert((message, request, sidechain), position);
            }
        }
    }
}
