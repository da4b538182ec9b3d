//! The one place that writes to the terminal, so the lint against stray prints can
//! stay on everywhere else.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "this module is the CLI's terminal output"
)]

use std::io::Write;

use tracing_subscriber::EnvFilter;

/// How read commands print: a readable table, or the server's JSON as it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum OutputFormat {
    #[default]
    Table,
    Json,
}

pub(crate) fn line(text: &str) {
    println!("{text}");
}

/// Writes bytes to stdout as they are (log lines, which may not be UTF-8).
pub(crate) fn raw(bytes: &[u8]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()
}

pub(crate) fn error(text: &str) {
    eprintln!("Error: {text}");
}

pub(crate) fn note(text: &str) {
    eprintln!("{text}");
}

/// Pretty JSON on stdout.
pub(crate) fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Left-aligned columns, two spaces apart; a header row first. Cells are kept to
/// one line (newlines become spaces) so the columns stay aligned.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) {
    print!("{}", render_table(headers, rows));
}

pub(crate) fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let clean = |cell: &str| cell.replace(['\n', '\r', '\t'], " ");
    let header_row: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| clean(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = header_row.iter().map(|h| h.chars().count()).collect();
    for row in &body {
        for (index, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(index) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header_row).chain(body.iter()) {
        let last = row.len().saturating_sub(1);
        for (index, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if index < last {
                let width = widths.get(index).copied().unwrap_or(0);
                let pad = width.saturating_sub(cell.chars().count()) + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// Logs to stderr, filtered by `MULTICA_LOG` (or `RUST_LOG`), `info` by default.
pub(crate) fn init_console_logging() {
    let filter = std::env::var("MULTICA_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // A second init (tests, embedding) is harmless; ignore its error.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_on_the_widest_cell_including_unicode() {
        let rendered = render_table(
            &["ID", "TITLE"],
            &[
                vec!["MUL-1".into(), "Fix the bug".into()],
                vec!["MUL-100".into(), "Ünïcode\nand a newline".into()],
            ],
        );
        assert_eq!(
            rendered,
            "ID       TITLE\nMUL-1    Fix the bug\nMUL-100  Ünïcode and a newline\n"
        );
    }
}
