//! Logs: `tracing` to daily files in the OS log folder (the last 7 days are kept),
//! the console too in debug builds, the level changeable while running, and the
//! last warnings and errors kept in memory for "Copy diagnostics". Tokens never
//! reach a log line: they are `Secret`s, which print as `<redacted>`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, reload};

/// Log files kept (one per day).
const KEPT_FILES: usize = 7;
/// Bytes written per day at most; past it only a notice is written, once. With
/// [`KEPT_FILES`] this caps the folder at about 7 × 50 MB.
const DAILY_CAP: u64 = 50 * 1024 * 1024;
/// Warnings and errors kept for diagnostics.
const RECENT: usize = 20;

/// The running log setup; keep it alive for the whole process.
pub(crate) struct Logs {
    pub(crate) dir: PathBuf,
    filter: reload::Handle<EnvFilter, tracing_subscriber::Registry>,
    recent: Arc<Mutex<VecDeque<String>>>,
    _writer: WorkerGuard,
}

impl std::fmt::Debug for Logs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logs")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn filter_for(level: &str) -> EnvFilter {
    // Our crates at the chosen level; the webview and HTTP stacks only when they warn.
    EnvFilter::try_from_env("MULTICA_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "warn,multica_app={level},multica_daemon={level},multica_agents={level},multica_api={level},multica_usage={level}"
        ))
    })
}

impl Logs {
    /// Starts logging into `dir`. `None` when a subscriber was already set (tests).
    pub(crate) fn start(dir: &Path, level: &str) -> Option<Logs> {
        let _ = std::fs::create_dir_all(dir);
        let appender = RollingFileAppender::builder()
            .rotation(Rotation::DAILY)
            .max_log_files(KEPT_FILES)
            .filename_prefix("multica-app")
            .filename_suffix("log")
            .build(dir)
            .ok()?;
        let (writer, guard) = tracing_appender::non_blocking(CappedDaily::new(appender, DAILY_CAP));
        let (filter, handle) = reload::Layer::new(filter_for(level));
        let recent = Arc::new(Mutex::new(VecDeque::with_capacity(RECENT)));
        let file_layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(writer);
        let console = cfg!(debug_assertions)
            .then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
        tracing_subscriber::registry()
            .with(filter)
            .with(file_layer)
            .with(console)
            .with(RecentProblems {
                recent: Arc::clone(&recent),
            })
            .try_init()
            .ok()?;
        Some(Logs {
            dir: dir.to_owned(),
            filter: handle,
            recent,
            _writer: guard,
        })
    }

    /// Changes the level of our crates now.
    pub(crate) fn set_level(&self, level: &str) {
        let _ = self.filter.reload(filter_for(level));
    }

    pub(crate) fn recent_problems(&self) -> Vec<String> {
        self.recent
            .lock()
            .map(|recent| recent.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// A day's log file stops growing at `cap` bytes (a runaway loop at debug level
/// must not fill the disk); the next day starts a new file.
struct CappedDaily<W> {
    inner: W,
    cap: u64,
    day: chrono::NaiveDate,
    written: u64,
    noticed: bool,
}

impl<W> CappedDaily<W> {
    fn new(inner: W, cap: u64) -> Self {
        CappedDaily {
            inner,
            cap,
            day: chrono::Utc::now().date_naive(),
            written: 0,
            noticed: false,
        }
    }
}

impl<W: std::io::Write> std::io::Write for CappedDaily<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let today = chrono::Utc::now().date_naive();
        if today != self.day {
            self.day = today;
            self.written = 0;
            self.noticed = false;
        }
        if self.written >= self.cap {
            if !self.noticed {
                self.noticed = true;
                let _ = self
                    .inner
                    .write_all(b"(today's log reached its size limit; more lines are dropped until tomorrow)\n");
            }
            // Dropped, but reported as written: logging must never fail the app.
            return Ok(buf.len());
        }
        let written = self.inner.write(buf)?;
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Keeps the last warnings and errors as one line each.
struct RecentProblems {
    recent: Arc<Mutex<VecDeque<String>>>,
}

impl<S: Subscriber> Layer<S> for RecentProblems {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        let text = format!(
            "{} {level} {}: {}",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
            event.metadata().target(),
            line.0
        );
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(text);
        }
    }
}

#[derive(Default)]
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            self.0.push_str(&format!("{value:?}"));
        } else {
            self.0.push_str(&format!("{}={value:?}", field.name()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_days_log_stops_at_its_cap_with_one_notice() {
        let mut capped = CappedDaily::new(Vec::new(), 10);
        capped.write_all(b"0123456789").expect("write");
        capped.write_all(b"more").expect("dropped, not failed");
        capped.write_all(b"and more").expect("dropped");
        let text = String::from_utf8(capped.inner).expect("utf-8");
        assert!(text.starts_with("0123456789"));
        assert_eq!(text.matches("size limit").count(), 1);
        assert!(!text.contains("0123456789more") && !text.contains("and more"));
    }
}
