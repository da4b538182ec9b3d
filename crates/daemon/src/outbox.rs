//! Reports that must reach the server whatever happens to the network or to this
//! process: a task's last transcript messages and its result (complete or fail).
//!
//! Each report is written to disk *before* the first attempt to send it, as one
//! JSON file per report, atomically (temporary file, fsync, rename). It is removed
//! only on a definite answer: success, or a refusal that means the task is already
//! settled (the seed server's 400 "no rows", a 404 for a task it no longer has).
//! Transport errors, 5xx, 408 and 429 keep it for the next attempt, with jittered
//! exponential back-off, and a restarted daemon sends what its predecessor left.
//! A file that cannot be read is moved aside (`*.corrupt`) with a log line.
//!
//! Reports of one task are sent in the order they were written: the transcript
//! before the result it leads to.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use multica_api::wire::{CompleteRequest, FailRequest, TaskMessage, TaskUsageEntry};
use multica_api::{ApiError, DaemonClient};
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::failure::FailureReason;

/// First retry after this long by default; doubled per failed attempt (see
/// [`Backoff`]).
pub const DEFAULT_FIRST_RETRY: Duration = Duration::from_secs(2);
/// Markers of running tasks live in this subdirectory.
const RUNNING_DIR: &str = "running";
/// What a task left running by a dead daemon is failed with.
pub const ORPHAN_ERROR: &str = "the daemon stopped (it crashed or was killed) while this task ran; \
     its agent was lost with it. Assign the issue again to retry.";
/// Transcript messages per request when an entry is replayed.
const MESSAGE_BATCH: usize = 100;

/// One report to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Report {
    Messages {
        messages: Vec<TaskMessage>,
    },
    /// Current servers only: a seed server answers 404 and it is dropped.
    Usage {
        usage: Vec<TaskUsageEntry>,
    },
    Complete {
        request: CompleteRequest,
    },
    /// Files written before the failure's reason was sent hold only `error`.
    Fail {
        #[serde(flatten)]
        request: FailRequest,
    },
}

impl Report {
    fn name(&self) -> &'static str {
        match self {
            Report::Messages { .. } => "messages",
            Report::Usage { .. } => "usage",
            Report::Complete { .. } => "complete",
            Report::Fail { .. } => "fail",
        }
    }
}

/// A report on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The layout of this file, for later versions.
    pub version: u32,
    pub task_id: String,
    pub report: Report,
    /// Unix seconds when it was written.
    pub created_at: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot write the outbox entry {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode the report: {0}")]
    Encode(#[from] serde_json::Error),
}

/// How an attempt to send one entry ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// The server refused it in a way that means the task is settled already
    /// (the seed server's 400 "no rows", a 404 for a task it no longer has).
    Settled(String),
    /// The server refused the report itself; no retry will change that.
    Refused(String),
    /// Worth another try later.
    Retry(String),
}

/// The reports not yet delivered, as files in one directory.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    first_retry: Duration,
    next_seq: AtomicU64,
    /// Entries being sent right now, so two senders never send one twice at once.
    in_flight: Mutex<BTreeSet<PathBuf>>,
    /// Tells the outbox loop that reports were left waiting.
    waiting: tokio::sync::Notify,
    /// Tells senders waiting out a back-off that entries were delivered.
    delivered: tokio::sync::Notify,
}

impl Outbox {
    /// Opens (and creates) the outbox in `dir`; sequence numbers continue after
    /// the entries already there. Retries start `first_retry` apart.
    pub fn open(dir: PathBuf, first_retry: Duration) -> Self {
        if let Err(error) = fs::create_dir_all(&dir) {
            warn!(dir = %dir.display(), %error, "cannot create the outbox directory; reports will be sent without a copy on disk");
        }
        let highest = entry_files(&dir)
            .iter()
            .filter_map(|path| sequence_of(path))
            .max()
            .unwrap_or(0);
        Self {
            dir,
            first_retry,
            next_seq: AtomicU64::new(highest + 1),
            in_flight: Mutex::new(BTreeSet::new()),
            waiting: tokio::sync::Notify::new(),
            delivered: tokio::sync::Notify::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `report` for `task_id`; returns the entry's file.
    pub fn write(&self, task_id: &str, report: Report) -> Result<PathBuf, OutboxError> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            version: 1,
            task_id: task_id.to_owned(),
            created_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |age| age.as_secs()),
            report,
        };
        let path = self.dir.join(format!(
            "{seq:012}-{}-{}.json",
            file_safe(task_id),
            entry.report.name()
        ));
        let bytes = serde_json::to_vec(&entry)?;
        write_atomically(&path, &bytes).map_err(|source| OutboxError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// How many entries wait (without reading them).
    pub fn waiting(&self) -> usize {
        entry_files(&self.dir).len()
    }

    /// Entries waiting, oldest first. Unreadable ones are quarantined.
    pub fn pending(&self) -> Vec<(PathBuf, Entry)> {
        let mut entries = Vec::new();
        for path in entry_files(&self.dir) {
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                // Delivered (and removed) by another sender since the listing.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => {
                    warn!(path = %path.display(), %error, "cannot read an outbox entry");
                    continue;
                }
            };
            match serde_json::from_slice::<Entry>(&bytes) {
                Ok(entry) => entries.push((path, entry)),
                Err(error) => self.quarantine(&path, &error.to_string()),
            }
        }
        entries
    }

    /// Notes on disk that `task_id` runs, so that a daemon that dies mid-task
    /// reports it at its next start (see [`Self::take_orphans`]).
    pub fn mark_running(&self, task_id: &str) {
        let dir = self.dir.join(RUNNING_DIR);
        let written = fs::create_dir_all(&dir)
            .and_then(|()| write_atomically(&dir.join(file_safe(task_id)), task_id.as_bytes()));
        if let Err(error) = written {
            warn!(%task_id, %error, "cannot note the running task on disk; a crash would leave it unreported");
        }
    }

    /// The task's end is in the outbox (or reported): it is no orphan any more.
    pub fn clear_running(&self, task_id: &str) {
        self.remove(&self.dir.join(RUNNING_DIR).join(file_safe(task_id)));
    }

    /// Tasks a previous process of this daemon left running (it crashed or was
    /// killed): each gets a failure report in the outbox, unless its result is
    /// there already. Returns their ids.
    pub fn take_orphans(&self) -> Vec<String> {
        let dir = self.dir.join(RUNNING_DIR);
        let Ok(markers) = fs::read_dir(&dir) else {
            return Vec::new();
        };
        let settled: BTreeSet<String> = self
            .pending()
            .into_iter()
            .filter(|(_, entry)| {
                matches!(entry.report, Report::Complete { .. } | Report::Fail { .. })
            })
            .map(|(_, entry)| entry.task_id)
            .collect();
        let mut orphans = Vec::new();
        for marker in markers.flatten().map(|entry| entry.path()) {
            let Ok(task_id) = fs::read_to_string(&marker) else {
                continue;
            };
            let task_id = task_id.trim().to_owned();
            if !task_id.is_empty() && !settled.contains(&task_id) {
                // The reason current servers retry a task a crashed daemon left.
                let report = Report::Fail {
                    request: FailRequest {
                        failure_reason: Some(FailureReason::RuntimeRecovery.as_str().to_owned()),
                        ..FailRequest::because(ORPHAN_ERROR)
                    },
                };
                if let Err(error) = self.write(&task_id, report) {
                    warn!(%task_id, %error, "cannot queue the failure of a task left running");
                    continue;
                }
                orphans.push(task_id);
            }
            self.remove(&marker);
        }
        orphans
    }

    /// Removes a delivered entry.
    pub fn remove(&self, path: &Path) {
        match fs::remove_file(path) {
            Ok(()) => self.delivered.notify_waiters(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                warn!(path = %path.display(), %error, "cannot remove a delivered outbox entry")
            }
        }
    }

    fn quarantine(&self, path: &Path, error: &str) {
        let aside = path.with_extension("corrupt");
        warn!(path = %path.display(), %error, "unreadable outbox entry moved aside");
        if let Err(rename_error) = fs::rename(path, &aside) {
            warn!(path = %path.display(), error = %rename_error, "cannot move the unreadable outbox entry aside");
        }
    }

    /// Sends every waiting entry once, oldest first. An entry that is to be
    /// retried holds back the later entries of its task. Returns how many are
    /// still waiting.
    pub async fn flush(&self, client: &DaemonClient) -> usize {
        let mut blocked_tasks = BTreeSet::new();
        let mut waiting = 0;
        for (path, entry) in self.pending() {
            if blocked_tasks.contains(&entry.task_id) || !self.claim(&path) {
                waiting += 1;
                continue;
            }
            let delivery = send(client, &entry).await;
            self.release(&path);
            match delivery {
                Delivery::Delivered => {
                    debug!(task_id = %entry.task_id, report = entry.report.name(), "outbox entry delivered");
                    self.remove(&path);
                }
                Delivery::Settled(reason) => {
                    info!(task_id = %entry.task_id, report = entry.report.name(), %reason, "the server had settled the task already; dropping the report");
                    self.remove(&path);
                }
                Delivery::Refused(reason) => {
                    warn!(task_id = %entry.task_id, report = entry.report.name(), %reason, "the server refused the report; dropping it");
                    self.remove(&path);
                }
                Delivery::Retry(reason) => {
                    debug!(task_id = %entry.task_id, report = entry.report.name(), %reason, "outbox entry kept for a later attempt");
                    blocked_tasks.insert(entry.task_id.clone());
                    waiting += 1;
                }
            }
        }
        waiting
    }

    /// Writes the report, then sends every waiting entry of its task until they
    /// are delivered or `attempts` rounds have failed (they then stay for the
    /// outbox loop). When the disk refuses the entry, the report is sent without
    /// a copy, with the same retries.
    pub async fn deliver(
        &self,
        client: &DaemonClient,
        task_id: &str,
        report: Report,
        attempts: u32,
    ) -> Delivery {
        let written = match self.write(task_id, report.clone()) {
            Ok(path) => Some(path),
            Err(error) => {
                warn!(%task_id, %error, "cannot keep the report on disk; sending it without a copy");
                None
            }
        };
        let mut backoff = self.backoff();
        let mut last = Delivery::Retry("not attempted".to_owned());
        for attempt in 0..attempts.max(1) {
            if attempt > 0 {
                // The outbox loop may send it meanwhile (the server is back).
                tokio::select! {
                    () = tokio::time::sleep(backoff.next_delay()) => {}
                    () = self.delivered.notified() => {}
                }
                if written.as_ref().is_some_and(|path| !path.exists()) {
                    return Delivery::Delivered;
                }
            }
            last = match &written {
                Some(path) => self.flush_task(client, task_id, path).await,
                None => {
                    send(
                        client,
                        &Entry {
                            version: 1,
                            task_id: task_id.to_owned(),
                            report: report.clone(),
                            created_at: 0,
                        },
                    )
                    .await
                }
            };
            if !matches!(last, Delivery::Retry(_)) {
                return last;
            }
        }
        // Left for the outbox loop, which retries on its own schedule from now.
        self.waiting.notify_one();
        last
    }

    /// Resolves when a sender left reports waiting (see [`Self::deliver`]).
    pub async fn reports_left_waiting(&self) {
        self.waiting.notified().await;
    }

    /// Sends the waiting entries of `task_id` in order, up to and including
    /// `target`; the outcome is `target`'s.
    async fn flush_task(&self, client: &DaemonClient, task_id: &str, target: &Path) -> Delivery {
        for (path, entry) in self.pending() {
            if entry.task_id != task_id {
                continue;
            }
            if !self.claim(&path) {
                return Delivery::Retry("another sender has this report".to_owned());
            }
            let delivery = send(client, &entry).await;
            self.release(&path);
            match &delivery {
                Delivery::Retry(_) => return delivery,
                Delivery::Delivered | Delivery::Settled(_) | Delivery::Refused(_) => {
                    self.remove(&path);
                }
            }
            if path == target {
                return delivery;
            }
        }
        // Someone else delivered it meanwhile.
        Delivery::Delivered
    }

    /// A fresh back-off with this outbox's first delay.
    pub fn backoff(&self) -> Backoff {
        Backoff::starting_at(self.first_retry)
    }

    fn claim(&self, path: &Path) -> bool {
        self.in_flight
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(path.to_owned())
    }

    fn release(&self, path: &Path) {
        self.in_flight
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .remove(path);
    }
}

/// One attempt at one entry.
pub async fn send(client: &DaemonClient, entry: &Entry) -> Delivery {
    let task_id = entry.task_id.as_str();
    let result: Result<(), ApiError> = match &entry.report {
        Report::Messages { messages } => {
            for batch in messages.chunks(MESSAGE_BATCH) {
                if let Err(error) = client.report_messages(task_id, batch).await {
                    return classify(&error);
                }
            }
            Ok(())
        }
        Report::Usage { usage } => client.report_task_usage(task_id, usage).await,
        Report::Complete { request } => client.complete_task(task_id, request).await.map(drop),
        Report::Fail { request } => client.fail_task(task_id, request).await.map(drop),
    };
    match result {
        Ok(()) => Delivery::Delivered,
        Err(error) => classify(&error),
    }
}

fn classify(error: &ApiError) -> Delivery {
    // A success with a body that is not the contract's (a proxy's page) says
    // nothing about whether the report arrived: send it again (results are
    // idempotent on current servers; a seed server then answers "no rows").
    if error.is_retryable() || error.is_malformed() {
        Delivery::Retry(error.to_string())
    } else if error.is_conflict() || error.is_not_found() {
        Delivery::Settled(error.to_string())
    } else {
        Delivery::Refused(error.to_string())
    }
}

fn entry_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    // The zero-padded sequence number first: name order is write order.
    files.sort();
    files
}

fn sequence_of(path: &Path) -> Option<u64> {
    path.file_name()?.to_str()?.split('-').next()?.parse().ok()
}

/// Task ids come from the server: keep only what is safe in a file name.
fn file_safe(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

/// Writes `bytes` to `path` so that a crash or a full disk leaves either the old
/// file or the new one, never a torn one: a temporary file next to it, fsync,
/// rename, fsync of the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    let written = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(error) = written {
        let _ = fs::remove_file(&temporary);
        return Err(error);
    }
    fs::rename(&temporary, path)?;
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        // Makes the rename itself durable; not possible (or needed) on Windows.
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(output: &str) -> Report {
        Report::Complete {
            request: CompleteRequest {
                output: output.to_owned(),
                ..CompleteRequest::default()
            },
        }
    }

    #[test]
    fn entries_come_back_in_write_order_across_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = Outbox::open(dir.path().to_owned(), DEFAULT_FIRST_RETRY);
        outbox
            .write(
                "t1",
                Report::Fail {
                    request: FailRequest::because("x"),
                },
            )
            .expect("write");
        outbox.write("t2", complete("a")).expect("write");
        let reopened = Outbox::open(dir.path().to_owned(), DEFAULT_FIRST_RETRY);
        reopened.write("t1", complete("b")).expect("write");
        let pending = reopened.pending();
        let order: Vec<(&str, &str)> = pending
            .iter()
            .map(|(_, entry)| (entry.task_id.as_str(), entry.report.name()))
            .collect();
        assert_eq!(
            order,
            [("t1", "fail"), ("t2", "complete"), ("t1", "complete")]
        );
    }

    #[test]
    fn a_task_left_running_becomes_a_failure_unless_its_result_is_waiting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = Outbox::open(dir.path().to_owned(), DEFAULT_FIRST_RETRY);
        outbox.mark_running("lost");
        outbox.mark_running("finished");
        outbox.write("finished", complete("done")).expect("write");
        outbox.mark_running("cleared");
        outbox.clear_running("cleared");

        let reopened = Outbox::open(dir.path().to_owned(), DEFAULT_FIRST_RETRY);
        assert_eq!(reopened.take_orphans(), ["lost"]);
        let reports: Vec<(String, &'static str)> = reopened
            .pending()
            .into_iter()
            .map(|(_, entry)| (entry.task_id.clone(), entry.report.name()))
            .collect();
        assert_eq!(
            reports,
            [
                ("finished".to_owned(), "complete"),
                ("lost".to_owned(), "fail")
            ]
        );
        assert!(reopened.take_orphans().is_empty(), "markers are consumed");
    }

    #[test]
    fn an_unreadable_entry_is_moved_aside_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = Outbox::open(dir.path().to_owned(), DEFAULT_FIRST_RETRY);
        let good = outbox.write("t1", complete("ok")).expect("write");
        let bad = dir.path().join("000000000000-t0-complete.json");
        fs::write(&bad, b"{\"version\":1,\"task_id\":").expect("torn file");
        let pending = outbox.pending();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].0, good);
        assert!(!bad.exists());
        assert!(bad.with_extension("corrupt").exists());
    }

    #[test]
    fn a_failure_left_by_an_older_daemon_still_goes_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = Outbox::open(dir.path().to_owned(), DEFAULT_FIRST_RETRY);
        let old = dir.path().join("000000000001-t1-fail.json");
        let body = br#"{"version":1,"task_id":"t1","report":{"kind":"fail","error":"boom"},"created_at":1}"#;
        fs::write(&old, body).expect("old entry");
        let pending = outbox.pending();
        assert_eq!(pending.len(), 1, "the old file parses");
        assert_eq!(
            pending[0].1.report,
            Report::Fail {
                request: FailRequest::because("boom")
            }
        );
    }

    #[test]
    fn orphans_are_failed_with_the_reason_servers_retry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = Outbox::open(dir.path().to_owned(), DEFAULT_FIRST_RETRY);
        outbox.mark_running("t9");
        let reopened = Outbox::open(dir.path().to_owned(), DEFAULT_FIRST_RETRY);
        assert_eq!(reopened.take_orphans(), ["t9"]);
        let Report::Fail { request } = &reopened.pending()[0].1.report else {
            panic!("not a failure");
        };
        assert_eq!(request.failure_reason.as_deref(), Some("runtime_recovery"));
        assert_eq!(request.error, ORPHAN_ERROR);
    }

    #[test]
    fn ids_from_the_server_cannot_leave_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = Outbox::open(dir.path().to_owned(), DEFAULT_FIRST_RETRY);
        let path = outbox
            .write("../../etc/passwd", complete("x"))
            .expect("write");
        assert_eq!(path.parent(), Some(dir.path()));
        assert_eq!(outbox.pending()[0].1.task_id, "../../etc/passwd");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_is_a_clear_error_and_leaves_the_old_file_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("entry.json");
        fs::write(&path, b"old").expect("old");
        // The temporary file lands on a device that is always full.
        std::os::unix::fs::symlink("/dev/full", path.with_extension("tmp")).expect("symlink");
        let error = write_atomically(&path, b"new contents").expect_err("disk full");
        assert_eq!(error.raw_os_error(), Some(nix::libc::ENOSPC), "{error}");
        assert_eq!(fs::read(&path).expect("old file"), b"old");
    }

    #[test]
    fn the_outbox_backs_off_from_its_first_retry_up_to_five_minutes() {
        let dir = tempfile::tempdir().expect("dir");
        let mut backoff = Outbox::open(dir.path().join("outbox"), DEFAULT_FIRST_RETRY).backoff();
        let first = backoff.next_delay();
        assert!(first >= Duration::from_millis(1500) && first <= Duration::from_millis(2500));
        for _ in 0..20 {
            assert!(backoff.next_delay() <= Duration::from_secs(5 * 60));
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(2500));
    }
}
