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
        let (writer, guard) = tracing_appender::non_blocking(appender);
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
