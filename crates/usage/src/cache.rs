//! The on-disk cache: file states and their records, in shards.
//!
//! Files are spread over [`SHARDS`] shard files by a hash of their path; a scan
//! rewrites only the shards whose files changed, each atomically (temp file + rename),
//! so appending to one log costs one small write. The format is a compact binary
//! (varints, a per-shard string table) with a magic and version: a shard that does not
//! decode is ignored and its files are read again from the start.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::codex::{CodexState, RawUsage};
use crate::error::{Result, UsageError};
use crate::file_state::FileState;
use crate::fingerprint;
use crate::record::{Entry, LogSource, Record, RecordKey, Tokens};
use crate::strings::Strings;

pub(crate) const SHARDS: usize = 64;
const MAGIC: &[u8; 8] = b"MUSAGE\0\x01";
const DIRECTORY: &str = "usage-cache-v1";

pub(crate) fn shard_of(path: &Path) -> usize {
    (fingerprint::of_str(9, &path.to_string_lossy()) % SHARDS as u128) as usize
}

fn shard_path(dir: &Path, shard: usize) -> PathBuf {
    dir.join(DIRECTORY).join(format!("shard-{shard:02}.bin"))
}

fn cache_error(path: &Path) -> impl FnOnce(std::io::Error) -> UsageError + '_ {
    move |source| UsageError::Cache {
        path: path.to_owned(),
        source,
    }
}

/// Loads every shard; undecodable or missing shards yield nothing.
pub(crate) fn load(dir: &Path, strings: &mut Strings) -> Result<Vec<FileState>> {
    let mut files = Vec::new();
    for shard in 0..SHARDS {
        let path = shard_path(dir, shard);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(cache_error(&path)(error)),
        };
        if let Some(mut decoded) = decode_shard(&bytes, strings) {
            files.append(&mut decoded);
        }
    }
    Ok(files)
}

/// Atomically replaces one shard with the given files.
pub(crate) fn save(
    dir: &Path,
    shard: usize,
    files: &[&FileState],
    strings: &Strings,
) -> Result<()> {
    let folder = dir.join(DIRECTORY);
    fs::create_dir_all(&folder).map_err(cache_error(&folder))?;
    let bytes = encode_shard(files, strings);
    let path = shard_path(dir, shard);
    let mut temp = tempfile::NamedTempFile::new_in(&folder).map_err(cache_error(&folder))?;
    temp.write_all(&bytes).map_err(cache_error(&path))?;
    temp.persist(&path)
        .map_err(|error| cache_error(&path)(error.error))?;
    Ok(())
}

struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.bytes.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.bytes.push(value as u8);
    }
    fn signed(&mut self, value: i64) {
        self.varint(((value << 1) ^ (value >> 63)) as u64);
    }
    fn u128(&mut self, value: u128) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    fn text(&mut self, text: &str) {
        self.varint(text.len() as u64);
        self.bytes.extend_from_slice(text.as_bytes());
    }
    fn option_text(&mut self, text: Option<&str>) {
        match text {
            Some(text) => {
                self.bytes.push(1);
                self.text(text);
            }
            None => self.bytes.push(0),
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(first)
    }
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
    fn signed(&mut self) -> Option<i64> {
        let raw = self.varint()?;
        Some(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }
    fn u128(&mut self) -> Option<u128> {
        let (head, rest) = self.bytes.split_at_checked(16)?;
        self.bytes = rest;
        Some(u128::from_le_bytes(head.try_into().ok()?))
    }
    fn text(&mut self) -> Option<String> {
        let length = usize::try_from(self.varint()?).ok()?;
        let (head, rest) = self.bytes.split_at_checked(length)?;
        self.bytes = rest;
        String::from_utf8(head.to_vec()).ok()
    }
    fn option_text(&mut self) -> Option<Option<String>> {
        match self.byte()? {
            0 => Some(None),
            _ => Some(Some(self.text()?)),
        }
    }
}

fn encode_shard(files: &[&FileState], strings: &Strings) -> Vec<u8> {
    // Shard-local string table: global id -> local id.
    let mut local = rustc_hash::FxHashMap::<u32, u64>::default();
    let mut table: Vec<&str> = Vec::new();
    for file in files {
        for record in &file.records {
            for id in [record.entry.model, record.entry.session] {
                local.entry(id).or_insert_with(|| {
                    table.push(strings.get(id));
                    (table.len() - 1) as u64
                });
            }
        }
    }
    let mut out = Writer {
        bytes: Vec::with_capacity(64 + files.iter().map(|f| f.records.len() * 48).sum::<usize>()),
    };
    out.bytes.extend_from_slice(MAGIC);
    out.varint(table.len() as u64);
    for text in &table {
        out.text(text);
    }
    out.varint(files.len() as u64);
    for file in files {
        out.text(&file.path.to_string_lossy());
        out.bytes.push(file.provider.tag());
        out.option_text(file.project.as_deref());
        out.varint(file.size);
        out.signed(file.mtime.0);
        out.varint(u64::from(file.mtime.1));
        out.varint(file.offset);
        out.bytes.push(u8::from(file.resumable));
        out.bytes.push(u8::from(file.present));
        encode_codex(&mut out, &file.codex);
        out.varint(file.records.len() as u64);
        for record in &file.records {
            match record.key {
                RecordKey::Unique => out.bytes.push(0),
                RecordKey::Claude {
                    message,
                    request,
                    sidechain,
                } => {
                    out.bytes.push(match (request.is_some(), sidechain) {
                        (false, false) => 1,
                        (false, true) => 2,
                        (true, false) => 3,
                        (true, true) => 4,
                    });
                    out.u128(message);
                    if let Some(request) = request {
                        out.u128(request);
                    }
                }
                RecordKey::Codex(fingerprint) => {
                    out.bytes.push(5);
                    out.u128(fingerprint);
                }
            }
            let entry = &record.entry;
            out.signed(entry.timestamp_ms);
            out.varint(local.get(&entry.model).copied().unwrap_or(0));
            out.varint(local.get(&entry.session).copied().unwrap_or(0));
            let tokens = &entry.tokens;
            for value in [
                tokens.input,
                tokens.output,
                tokens.cache_write_5m,
                tokens.cache_write_1h,
                tokens.cache_read,
                tokens.reasoning,
            ] {
                out.varint(value);
            }
        }
    }
    out.bytes
}

fn encode_codex(out: &mut Writer, state: &CodexState) {
    match &state.previous_totals {
        Some(totals) => {
            out.bytes.push(1);
            for value in [
                totals.input_tokens,
                totals.cached_input_tokens,
                totals.output_tokens,
                totals.reasoning_output_tokens,
                totals.total_tokens,
            ] {
                out.varint(value);
            }
        }
        None => out.bytes.push(0),
    }
    out.option_text(state.current_model.as_deref());
    out.option_text(state.cwd.as_deref());
    match &state.replay_second {
        Some(second) => {
            out.bytes.push(1);
            out.bytes.extend_from_slice(second);
        }
        None => out.bytes.push(0),
    }
    out.bytes.push(u8::from(state.skipping_replay));
}

fn decode_shard(bytes: &[u8], strings: &mut Strings) -> Option<Vec<FileState>> {
    let mut input = Reader {
        bytes: bytes.strip_prefix(MAGIC.as_slice())?,
    };
    let table_length = input.varint()?;
    let mut table = Vec::new();
    for _ in 0..table_length {
        table.push(strings.intern(&input.text()?));
    }
    let file_count = input.varint()?;
    let mut files = Vec::new();
    for _ in 0..file_count {
        let path = PathBuf::from(input.text()?);
        let provider = LogSource::from_tag(input.byte()?)?;
        let project = input.option_text()?;
        let mut file = FileState::new(path, provider, project);
        file.size = input.varint()?;
        file.mtime = (input.signed()?, u32::try_from(input.varint()?).ok()?);
        file.offset = input.varint()?;
        file.resumable = input.byte()? != 0;
        file.present = input.byte()? != 0;
        file.codex = decode_codex(&mut input)?;
        let record_count = input.varint()?;
        file.records.reserve(usize::try_from(record_count).ok()?);
        for _ in 0..record_count {
            let key = match input.byte()? {
                0 => RecordKey::Unique,
                tag @ 1..=4 => {
                    let message = input.u128()?;
                    let request = if tag >= 3 { Some(input.u128()?) } else { None };
                    RecordKey::Claude {
                        message,
                        request,
                        sidechain: tag == 2 || tag == 4,
                    }
                }
                5 => RecordKey::Codex(input.u128()?),
                _ => return None,
            };
            let timestamp_ms = input.signed()?;
            let model = *table.get(usize::try_from(input.varint()?).ok()?)?;
            let session = *table.get(usize::try_from(input.varint()?).ok()?)?;
            let tokens = Tokens {
                input: input.varint()?,
                output: input.varint()?,
                cache_write_5m: input.varint()?,
                cache_write_1h: input.varint()?,
                cache_read: input.varint()?,
                reasoning: input.varint()?,
            };
            file.records.push(Record {
                key,
                entry: Entry {
                    timestamp_ms,
                    model,
                    session,
                    tokens,
                },
            });
        }
        file.rebuild_index();
        files.push(file);
    }
    input.bytes.is_empty().then_some(files)
}

fn decode_codex(input: &mut Reader<'_>) -> Option<CodexState> {
    let previous_totals = match input.byte()? {
        0 => None,
        _ => Some(RawUsage {
            input_tokens: input.varint()?,
            cached_input_tokens: input.varint()?,
            output_tokens: input.varint()?,
            reasoning_output_tokens: input.varint()?,
            total_tokens: input.varint()?,
        }),
    };
    let current_model = input.option_text()?;
    let cwd = input.option_text()?;
    let replay_second = match input.byte()? {
        0 => None,
        _ => {
            let (head, rest) = input.bytes.split_at_checked(19)?;
            input.bytes = rest;
            Some(head.try_into().ok()?)
        }
    };
    let skipping_replay = input.byte()? != 0;
    Some(CodexState {
        previous_totals,
        current_model,
        cwd,
        replay_second,
        skipping_replay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_shard() {
        let mut strings = Strings::default();
        let model = strings.intern("claude-sonnet-4-5");
        let session = strings.intern("session-1");
        let mut file = FileState::new(
            PathBuf::from("/p/a.jsonl"),
            LogSource::Codex,
            Some("proj".into()),
        );
        file.size = 123;
        file.mtime = (-5, 7);
        file.offset = 100;
        file.resumable = false;
        file.codex = CodexState {
            previous_totals: Some(RawUsage {
                input_tokens: 1,
                cached_input_tokens: 2,
                output_tokens: 3,
                reasoning_output_tokens: 4,
                total_tokens: 5,
            }),
            current_model: Some("gpt-5".into()),
            cwd: Some("/w".into()),
            replay_second: Some(*b"2025-01-01T00:00:00"),
            skipping_replay: true,
        };
        for key in [
            RecordKey::Unique,
            RecordKey::Claude {
                message: 1,
                request: Some(u128::MAX),
                sidechain: true,
            },
            RecordKey::Claude {
                message: 2,
                request: None,
                sidechain: false,
            },
            RecordKey::Codex(42),
        ] {
            file.records.push(Record {
                key,
                entry: Entry {
                    timestamp_ms: 1_700_000_000_000,
                    model,
                    session,
                    tokens: Tokens {
                        input: 1,
                        output: 300,
                        cache_write_5m: 2,
                        cache_write_1h: 3,
                        cache_read: 1 << 40,
                        reasoning: 9,
                    },
                },
            });
        }
        let bytes = encode_shard(&[&file], &strings);
        let mut fresh = Strings::default();
        let decoded = decode_shard(&bytes, &mut fresh).expect("decodes");
        assert_eq!(decoded.len(), 1);
        let back = &decoded[0];
        assert_eq!(back.codex, file.codex);
        assert_eq!(
            (back.size, back.mtime, back.offset, back.resumable),
            (123, (-5, 7), 100, false)
        );
        assert_eq!(back.records.len(), 4);
        for (a, b) in back.records.iter().zip(&file.records) {
            assert_eq!(a.key, b.key);
            assert_eq!(a.entry.tokens, b.entry.tokens);
            assert_eq!(fresh.get(a.entry.model), "claude-sonnet-4-5");
        }
        assert!(decode_shard(&bytes[..bytes.len() - 1], &mut fresh).is_none());
    }
}
