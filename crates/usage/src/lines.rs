//! Reading the complete lines of a growing file from a byte offset.
//!
//! Lines may be of any length (the buffer grows to hold one); a last line without a
//! newline is only consumed when it is already a complete JSON value, so a line that
//! is still being written is read again, whole, on the next scan.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::ControlFlow;

const CHUNK: usize = 4 * 1024 * 1024;

/// Calls `visit(line, line_start_offset)` for each complete line of `file` between
/// `start` and `end` and returns the offset just after the last consumed line.
pub(crate) fn for_each_complete_line(
    file: &mut File,
    start: u64,
    end: u64,
    mut visit: impl FnMut(&[u8]) -> ControlFlow<()>,
) -> io::Result<u64> {
    if end <= start {
        return Ok(start);
    }
    file.seek(SeekFrom::Start(start))?;
    let mut remaining = end - start;
    let mut reader = file.take(remaining);
    let mut buffer: Vec<u8> = Vec::new();
    let mut consumed = start;
    let mut eof = false;
    loop {
        if !eof {
            let before = buffer.len();
            // Never zero more than what is left to read (+1 to notice the end).
            let target = before + CHUNK.min(remaining as usize + 1);
            buffer.resize(target, 0);
            let mut filled = before;
            while filled < target {
                let read = reader.read(&mut buffer[filled..])?;
                if read == 0 {
                    eof = true;
                    break;
                }
                filled += read;
            }
            remaining -= (filled - before) as u64;
            buffer.truncate(filled);
        }
        let mut line_start = 0;
        while let Some(newline) = memchr::memchr(b'\n', &buffer[line_start..]) {
            let line = &buffer[line_start..line_start + newline];
            line_start += newline + 1;
            consumed += (newline + 1) as u64;
            if visit(trim_cr(line)).is_break() {
                return Ok(consumed);
            }
        }
        buffer.drain(..line_start);
        if eof {
            // A last line without newline counts only once it is complete JSON.
            if !buffer.is_empty() && is_complete_json(&buffer) {
                consumed += buffer.len() as u64;
                let _ = visit(trim_cr(&buffer));
            }
            return Ok(consumed);
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn is_complete_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(content: &[u8], start: u64) -> (Vec<String>, u64) {
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(content).expect("write");
        let mut lines = Vec::new();
        let end = content.len() as u64;
        let offset = for_each_complete_line(&mut file, start, end, |line| {
            lines.push(String::from_utf8_lossy(line).into_owned());
            ControlFlow::Continue(())
        })
        .expect("read");
        (lines, offset)
    }

    #[test]
    fn stops_before_an_unfinished_last_line() {
        let (lines, offset) = collect(b"{\"a\":1}\n{\"b\":", 0);
        assert_eq!(lines, vec!["{\"a\":1}"]);
        assert_eq!(offset, 8);
    }

    #[test]
    fn consumes_a_complete_last_line_without_newline() {
        let (lines, offset) = collect(b"{\"a\":1}\r\n{\"b\":2}", 0);
        assert_eq!(lines, vec!["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(offset, 16);
    }

    #[test]
    fn reads_lines_longer_than_a_chunk() {
        let long = format!("{{\"x\":\"{}\"}}", "y".repeat(CHUNK * 2 + 17));
        let content = format!("{long}\n{{\"z\":1}}\n");
        let (lines, offset) = collect(content.as_bytes(), 0);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), long.len());
        assert_eq!(offset, content.len() as u64);
    }

    #[test]
    fn resumes_from_an_offset() {
        let (lines, _) = collect(b"{\"a\":1}\n{\"b\":2}\n", 8);
        assert_eq!(lines, vec!["{\"b\":2}"]);
    }
}
