//! What a worker thread hands back for one file: records with file-local string ids.

use rustc_hash::FxHashMap;

use crate::record::{RecordKey, Tokens};

#[derive(Debug, Clone, Copy)]
pub(crate) struct ParsedRecord {
    pub(crate) key: RecordKey,
    pub(crate) timestamp_ms: i64,
    /// Index into [`ParsedBatch::strings`].
    pub(crate) model: u32,
    /// Index into [`ParsedBatch::strings`].
    pub(crate) session: u32,
    pub(crate) tokens: Tokens,
}

/// Records of one read, with a small string table so workers need no global lock.
#[derive(Debug, Default)]
pub(crate) struct ParsedBatch {
    pub(crate) strings: Vec<String>,
    index: FxHashMap<String, u32>,
    pub(crate) records: Vec<ParsedRecord>,
}

impl ParsedBatch {
    pub(crate) fn intern(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.index.get(text) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(text.to_owned());
        self.index.insert(text.to_owned(), id);
        id
    }
}

/// Parses an RFC 3339 timestamp into Unix milliseconds.
pub(crate) fn parse_timestamp_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.timestamp_millis())
}
