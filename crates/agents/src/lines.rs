//! Splitting an agent's output into lines without a cap that stops reading.
//!
//! The Go seed used a scanner with a 10 MB limit: the first longer line ended the
//! read loop, the pipe filled up, and the agent blocked forever. Here a line may be
//! as long as [`MAX_LINE_BYTES`]; past that its remainder is skipped (and reported)
//! while reading goes on, so the agent never stalls on us.

/// Longest line kept. A 20 MB line of JSON is ordinary (a large file read by a
/// tool); this leaves room for much more while bounding memory per stream.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its `\n` (or `\r\n`).
    Complete(Vec<u8>),
    /// A line longer than the limit; its content was dropped. Holds its length.
    TooLong(usize),
}

/// Incremental splitter: feed it chunks as they arrive, collect complete lines.
#[derive(Debug)]
pub struct LineSplitter {
    pending: Vec<u8>,
    /// Bytes of the current line skipped because it outgrew the limit.
    skipped: Option<usize>,
    max_line: usize,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new(MAX_LINE_BYTES)
    }
}

impl LineSplitter {
    pub fn new(max_line: usize) -> Self {
        Self {
            pending: Vec::new(),
            skipped: None,
            max_line,
        }
    }

    /// Splits `chunk`, appending every line it completes to `out`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<Line>) {
        while !chunk.is_empty() {
            match memchr::memchr(b'\n', chunk) {
                Some(end) => {
                    self.take(&chunk[..end]);
                    out.push(self.finish_line());
                    chunk = &chunk[end + 1..];
                }
                None => {
                    self.take(chunk);
                    return;
                }
            }
        }
    }

    /// The last line, if the stream ended without a newline.
    pub fn finish(&mut self, out: &mut Vec<Line>) {
        if !self.pending.is_empty() || self.skipped.is_some() {
            out.push(self.finish_line());
        }
    }

    fn take(&mut self, bytes: &[u8]) {
        if let Some(skipped) = &mut self.skipped {
            *skipped += bytes.len();
        } else if self.pending.len() + bytes.len() > self.max_line {
            self.skipped = Some(self.pending.len() + bytes.len());
            self.pending = Vec::new();
        } else {
            self.pending.extend_from_slice(bytes);
        }
    }

    fn finish_line(&mut self) -> Line {
        match self.skipped.take() {
            Some(length) => Line::TooLong(length),
            None => {
                let mut line = std::mem::take(&mut self.pending);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Line::Complete(line)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize) -> Vec<Line> {
        let mut splitter = LineSplitter::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, &mut out);
        }
        splitter.finish(&mut out);
        out
    }

    fn complete(text: &str) -> Line {
        Line::Complete(text.as_bytes().to_vec())
    }

    #[test]
    fn lines_across_chunk_boundaries() {
        let lines = split(&[b"ab", b"c\nde", b"f\r\n\n", b"tail"], 100);
        assert_eq!(
            lines,
            vec![
                complete("abc"),
                complete("def"),
                complete(""),
                complete("tail")
            ]
        );
    }

    #[test]
    fn overlong_line_is_skipped_and_reading_continues() {
        let long = [b'x'; 50];
        let lines = split(&[b"ok\n", &long[..20], &long[20..], b"\nnext\n"], 10);
        assert_eq!(
            lines,
            vec![complete("ok"), Line::TooLong(50), complete("next")]
        );
    }

    #[test]
    fn a_twenty_megabyte_line_is_kept_whole() {
        let big = vec![b'a'; 20_000_000];
        let mut splitter = LineSplitter::default();
        let mut out = Vec::new();
        for chunk in big.chunks(65_536) {
            splitter.push(chunk, &mut out);
        }
        splitter.push(b"\n", &mut out);
        assert_eq!(out.len(), 1);
        assert!(matches!(&out[0], Line::Complete(line) if line.len() == 20_000_000));
    }
}
