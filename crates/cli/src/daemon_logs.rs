//! `multica daemon logs [-n N] [-f]`: the end of the background daemon's log, and
//! what it writes next.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::failure::{Failure, FailureKind};
use crate::output;

/// How much is read per step when looking backwards for line starts.
const BLOCK: u64 = 64 * 1024;
/// How often `--follow` looks for new lines.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(250);

pub(crate) async fn show(path: &Path, lines: usize, follow: bool) -> Result<()> {
    let path = path.to_owned();
    let (tail, mut position) = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || last_lines(&path, lines))
            .await
            .context("reading the log stopped unexpectedly")??
    };
    output::raw(&tail)?;
    if !follow {
        return Ok(());
    }
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = tokio::time::sleep(FOLLOW_INTERVAL) => {}
        }
        let path = path.clone();
        let (new_bytes, new_position) =
            tokio::task::spawn_blocking(move || read_from(&path, position))
                .await
                .context("reading the log stopped unexpectedly")??;
        output::raw(&new_bytes)?;
        position = new_position;
    }
}

/// The last `count` lines of the file, and the file's length (where following
/// starts).
fn last_lines(path: &Path, count: usize) -> Result<(Vec<u8>, u64)> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::new(
                FailureKind::Daemon,
                format!(
                    "no daemon log at {}: the daemon has not run in the background with this \
                     profile (`multica daemon start`); a foreground daemon logs to its terminal",
                    path.display()
                ),
            )
            .into());
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot open {}", path.display()));
        }
    };
    let length = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let start = start_of_last_lines(&mut file, length, count)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(start))?;
    file.take(length - start).read_to_end(&mut tail)?;
    Ok((tail, length))
}

/// Reads backwards block by block until `count` line breaks (not counting the one
/// that ends the file) are behind the cursor: never the whole file.
fn start_of_last_lines(
    file: &mut std::fs::File,
    length: u64,
    count: usize,
) -> std::io::Result<u64> {
    if count == 0 {
        return Ok(length);
    }
    let mut end = length;
    let mut seen = 0usize;
    let mut buffer = vec![0u8; BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let size = (end - start) as usize;
        let chunk = &mut buffer[..size];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        for (offset, byte) in chunk.iter().enumerate().rev() {
            let at = start + offset as u64;
            if *byte == b'\n' && at + 1 != length {
                seen += 1;
                if seen == count {
                    return Ok(at + 1);
                }
            }
        }
        end = start;
    }
    Ok(0)
}

/// What was appended since `position`. A file that got shorter was rotated or
/// truncated: start again from its beginning.
fn read_from(path: &Path, position: u64) -> Result<(Vec<u8>, u64)> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        // Removed while following: wait for it to come back.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(error) => return Err(error).with_context(|| format!("cannot open {}", path.display())),
    };
    let length = file.metadata()?.len();
    let from = if length < position { 0 } else { position };
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(from))?;
    file.take(length - from).read_to_end(&mut bytes)?;
    Ok((bytes, length))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(content: &[u8], count: usize) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("daemon.log");
        std::fs::write(&path, content).expect("write");
        last_lines(&path, count).expect("tail").0
    }

    #[test]
    fn last_lines_counts_from_the_end() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(tail(b"a\nb\nc\n", 10), b"a\nb\nc\n");
        assert_eq!(tail(b"a\nb\nc\n", 0), b"");
        assert_eq!(tail(b"", 5), b"");
    }

    #[test]
    fn last_lines_of_a_file_larger_than_a_block() {
        let mut content = Vec::new();
        for index in 0..50_000 {
            content.extend_from_slice(format!("line {index}\n").as_bytes());
        }
        assert_eq!(tail(&content, 3), b"line 49997\nline 49998\nline 49999\n");
    }

    #[test]
    fn following_restarts_after_truncation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("daemon.log");
        std::fs::write(&path, b"one\ntwo\n").expect("write");
        let (_, position) = last_lines(&path, 1).expect("tail");
        std::fs::write(&path, b"new\n").expect("truncate");
        let (bytes, _) = read_from(&path, position).expect("follow");
        assert_eq!(bytes, b"new\n");
    }

    #[test]
    fn a_missing_log_says_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let error = last_lines(&dir.path().join("none.log"), 5).expect_err("missing");
        assert!(
            error.to_string().contains("multica daemon start"),
            "{error}"
        );
    }
}
