//! The crate's error type.

use std::path::PathBuf;

/// Everything that can make a scan or a price-table load fail.
///
/// Unreadable *log* files never fail a scan: they are counted in
/// [`ScanStats::unreadable_files`](crate::ScanStats) and retried on the next scan.
/// Only problems with the scanner's own files (the cache directory, a user price
/// file) and a misconfigured `CLAUDE_CONFIG_DIR` are errors.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// The cache directory could not be created, read or written.
    #[error(
        "usage cache at {path}: {source}; check that the directory is writable, or delete it to rebuild the cache"
    )]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A user price file could not be read.
    #[error("price file {path}: {source}")]
    PriceFileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A user price file is not valid JSON of the expected shape.
    #[error(
        "price file {path} is not a valid price table: {source}; see the crate docs for its format"
    )]
    PriceFileParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// `CLAUDE_CONFIG_DIR` names a directory without a `projects/` folder.
    #[error(
        "CLAUDE_CONFIG_DIR entry {path} has no projects/ folder; fix or unset CLAUDE_CONFIG_DIR"
    )]
    MissingClaudeProjects { path: PathBuf },
    /// No home directory could be found to locate the default log folders.
    #[error("no home directory found; set HOME, CLAUDE_CONFIG_DIR or CODEX_HOME")]
    NoHome,
}

/// Result alias for this crate.
pub type Result<T, E = UsageError> = std::result::Result<T, E>;
