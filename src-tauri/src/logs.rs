//! Logs: `tracing` to daily files in the OS log folder (the last 7 days are kept),
//! the console too in debug builds, the level changeable while running, and the
//! last warnings and errors kept in memory for "Copy diagnostics". Tokens never
//! reach a log line: they are `Secret`s, which print as `<redacted>`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

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

/// The process's log setup, once started: set once, kept for the whole process.
static RUNNING: OnceLock<Logs> = OnceLock::new();

/// Starts logging into `dir` for the whole process (at most once).
pub(crate) fn start(dir: &Path, level: &str) {
    if let Some(logs) = Logs::start(dir, level) {
        let _ = RUNNING.set(logs);
    }
}

/// The log setup, once logging started.
pub(crate) fn running() -> Option<&'static Logs> {
    RUNNING.get()
}

/// Where the log files are, once logging started.
pub(crate) fn dir() -> Option<PathBuf> {
    RUNNING.get().map(|logs| logs.dir.clone())
}

/// Changes the level of our crates now (no-op before logging started).
pub(crate) fn set_level(level: &str) {
    if let Some(logs) = RUNNING.get() {
        logs.set_level(level);
    }
}

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

/// One line of the log, for the window's log view.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct LogLine {
    /// As written: UTC, RFC 3339.
    pub(crate) time: String,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub(crate) level: String,
    pub(crate) text: String,
}

/// What the log view asks for.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub(crate) struct LogQuery {
    /// The least severe level shown (`warn` shows warnings and errors).
    pub(crate) level: Option<String>,
    /// Only lines containing this, ignoring case.
    pub(crate) contains: Option<String>,
}

/// How much of the newest log file the view reads, from its end.
const TAIL_BYTES: u64 = 2 * 1024 * 1024;
/// Lines the view gets at most (the newest).
const TAIL_LINES: usize = 2000;

const LEVELS: [&str; 5] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

fn severity(level: &str) -> Option<usize> {
    LEVELS
        .iter()
        .position(|known| known.eq_ignore_ascii_case(level))
}

/// The newest lines of today's (or the latest) log file that match `query`.
pub(crate) fn tail(dir: &Path, query: &LogQuery) -> std::io::Result<Vec<LogLine>> {
    use std::io::{Read, Seek, SeekFrom};
    let newest = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("multica-app") && name.ends_with(".log"))
        })
        // Names carry the date (multica-app.2026-12-01.log): the greatest is the newest.
        .max();
    let Some(newest) = newest else {
        return Ok(Vec::new());
    };
    let mut file = std::fs::File::open(newest)?;
    let length = file.metadata()?.len();
    let start = length.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    // Reading from the middle of the file: the first line is probably cut.
    let text = if start > 0 {
        text.split_once('\n').map_or("", |(_, rest)| rest)
    } else {
        &text
    };
    Ok(filter_lines(text, query))
}

/// Parses `tracing`'s lines ("<time>  INFO target: message") and keeps the newest
/// [`TAIL_LINES`] that match. A line that is not a log line (a message with a line
/// break) belongs to the line before.
fn filter_lines(text: &str, query: &LogQuery) -> Vec<LogLine> {
    let most_verbose = query
        .level
        .as_deref()
        .and_then(severity)
        .unwrap_or(LEVELS.len() - 1);
    let needle = query
        .contains
        .as_deref()
        .map(str::trim)
        .filter(|needle| !needle.is_empty())
        .map(str::to_lowercase);
    let mut lines: Vec<LogLine> = Vec::new();
    for raw in text.lines() {
        let mut parts = raw.split_whitespace();
        let time = parts.next().unwrap_or_default();
        let level = parts.next().unwrap_or_default();
        let starts_an_entry = time.len() >= 20
            && time.as_bytes().get(4) == Some(&b'-')
            && time.contains('T')
            && severity(level).is_some();
        if starts_an_entry {
            let text = raw
                .trim_start()
                .get(time.len()..)
                .map(str::trim_start)
                .and_then(|rest| rest.get(level.len()..))
                .map_or("", str::trim_start);
            lines.push(LogLine {
                time: time.to_owned(),
                level: level.to_owned(),
                text: text.to_owned(),
            });
        } else if let Some(last) = lines.last_mut() {
            last.text.push('\n');
            last.text.push_str(raw);
        }
    }
    let mut kept: Vec<LogLine> = lines
        .into_iter()
        .filter(|line| severity(&line.level).is_some_and(|level| level <= most_verbose))
        .filter(|line| {
            needle
                .as_deref()
                .is_none_or(|needle| line.text.to_lowercase().contains(needle))
        })
        .collect();
    let excess = kept.len().saturating_sub(TAIL_LINES);
    kept.drain(..excess);
    kept
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

    const SAMPLE: &str = "\
2026-12-01T02:00:00.000001Z  INFO multica_daemon::engine: engine started agents=[\"claude\"]
2026-12-01T02:00:01.000001Z  WARN multica_daemon::heartbeat: heartbeat failed runtime_id=rt-1
2026-12-01T02:00:02.000001Z DEBUG multica_daemon::engine: claim poll
2026-12-01T02:00:03.000001Z ERROR task{task=abcd1234}: multica_daemon::task_runner: agent failed: exit 3
stderr: second line of the message
";

    fn query(level: Option<&str>, contains: Option<&str>) -> LogQuery {
        LogQuery {
            level: level.map(str::to_owned),
            contains: contains.map(str::to_owned),
        }
    }

    #[test]
    fn log_lines_are_parsed_and_filtered_by_level_and_text() {
        let all = filter_lines(SAMPLE, &query(None, None));
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].time, "2026-12-01T02:00:00.000001Z");
        assert_eq!(all[0].level, "INFO");
        assert_eq!(
            all[0].text,
            "multica_daemon::engine: engine started agents=[\"claude\"]"
        );
        // A continuation belongs to the line before.
        assert!(
            all[3]
                .text
                .ends_with("exit 3\nstderr: second line of the message")
        );

        let warnings = filter_lines(SAMPLE, &query(Some("warn"), None));
        let levels: Vec<&str> = warnings.iter().map(|l| l.level.as_str()).collect();
        assert_eq!(levels, ["WARN", "ERROR"]);
        let found = filter_lines(SAMPLE, &query(Some("trace"), Some("  HEARTBEAT ")));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].level, "WARN");
        assert!(filter_lines(SAMPLE, &query(Some("error"), Some("heartbeat"))).is_empty());
    }

    #[test]
    fn the_newest_log_file_is_read_from_its_end() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("multica-app.2026-11-30.log"),
            "2026-11-30T10:00:00.000001Z  INFO old: yesterday\n",
        )
        .expect("write");
        let mut today = String::new();
        // More than the tail window: only the newest lines are read.
        let filler = "x".repeat(200);
        let count = usize::try_from(TAIL_BYTES).expect("fits") / 240 + 100;
        for n in 0..count {
            today.push_str(&format!(
                "2026-12-01T10:00:00.000001Z  INFO app: line {n} {filler}\n"
            ));
        }
        std::fs::write(dir.path().join("multica-app.2026-12-01.log"), &today).expect("write");
        let lines = tail(dir.path(), &LogQuery::default()).expect("tail");
        assert_eq!(lines.len(), TAIL_LINES);
        let last = lines.last().expect("a line");
        assert!(last.text.starts_with(&format!("app: line {} ", count - 1)));
        assert!(lines.iter().all(|line| line.time.starts_with("2026-12-01")));

        let empty = tempfile::tempdir().expect("dir");
        assert!(
            tail(empty.path(), &LogQuery::default())
                .expect("tail")
                .is_empty()
        );
    }

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
