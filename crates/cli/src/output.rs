//! The one place that writes to the terminal, so the lint against stray prints can
//! stay on everywhere else.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "this module is the CLI's terminal output"
)]

use tracing_subscriber::EnvFilter;

pub(crate) fn line(text: &str) {
    println!("{text}");
}

pub(crate) fn error(text: &str) {
    eprintln!("Error: {text}");
}

pub(crate) fn note(text: &str) {
    eprintln!("{text}");
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
