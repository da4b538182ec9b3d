//! The incremental, parallel scan.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rustc_hash::FxHashMap;

use crate::cache::{self, SHARDS};
use crate::claude;
use crate::codex::{self, CodexState, SUBAGENT_PROBE_BYTES};
use crate::config::ScanConfig;
use crate::error::Result;
use crate::file_state::FileState;
use crate::ledger::{Ledger, compare};
use crate::lines::for_each_complete_line;
use crate::parsed::ParsedBatch;
use crate::record::{Entry, LogSource, Record, RecordKey};
use crate::report::{ScanResult, ScanStats};
use crate::strings::Strings;
use crate::walk::{DirectoryCache, Found, project_of, walk};

/// Scans the configured log folders; keep one per process and call
/// [`Scanner::scan`] as often as you like: each call reads only what changed.
///
/// `scan` is synchronous and uses its own threads; from async code call it inside
/// `tokio::task::spawn_blocking`.
#[derive(Debug)]
pub struct Scanner {
    config: ScanConfig,
    state: Option<State>,
}

struct State {
    strings: Strings,
    ledger: Ledger,
    files: Vec<FileState>,
    by_path: FxHashMap<OsString, u32>,
    dirty: Vec<bool>,
    directories: DirectoryCache,
    /// Project of each session id, for the session view.
    projects: FxHashMap<u32, String>,
    /// The last result, reused while nothing changes.
    last: Option<ScanResult>,
}

/// A file that must be read, with where to start.
struct Job {
    file: Option<u32>,
    found: Found,
    provider: LogSource,
    start: Option<(u64, CodexState)>,
}

struct Outcome {
    restarted: bool,
    bytes_read: u64,
    batch: ParsedBatch,
    offset: u64,
    size: u64,
    codex: CodexState,
    resumable: bool,
}

impl Scanner {
    pub fn new(config: ScanConfig) -> Scanner {
        Scanner {
            config,
            state: None,
        }
    }

    pub fn config(&self) -> &ScanConfig {
        &self.config
    }

    /// Brings the totals up to date with the logs and returns them.
    ///
    /// The first call of a process loads the cache (if configured); every call walks
    /// the roots, reads the new complete lines of changed files in parallel, updates
    /// the deduplicated totals and rewrites the cache shards that changed.
    pub fn scan(&mut self) -> Result<ScanResult> {
        let started = Instant::now();
        let mut stats = ScanStats::default();
        let loaded = match self.state.take() {
            Some(state) => state,
            None => self.load_state(&mut stats)?,
        };
        let state = self.state.insert(loaded);

        let threads = if self.config.threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            self.config.threads
        };
        let found = walk(&self.config.roots, &mut state.directories, threads);
        stats.files = found.len();
        for file in &mut state.files {
            file.present = false;
        }
        let mut jobs = Vec::new();
        for found in found {
            let provider = self.config.roots[found.root].provider;
            match state.by_path.get(found.path.as_os_str()) {
                Some(&id) => {
                    let file = &mut state.files[id as usize];
                    file.present = true;
                    if file.size == found.size && file.mtime == found.mtime {
                        continue;
                    }
                    let restart =
                        !file.resumable || found.size < file.size || found.mtime < file.mtime;
                    let start = (!restart).then(|| (file.offset, file.codex.clone()));
                    jobs.push(Job {
                        file: Some(id),
                        found,
                        provider,
                        start,
                    });
                }
                None => jobs.push(Job {
                    file: None,
                    found,
                    provider,
                    start: None,
                }),
            }
        }

        let changed = !jobs.is_empty();
        let roots = &self.config.roots;
        read_in_parallel(jobs, threads, |job, outcome| match outcome {
            Ok(outcome) => {
                stats.files_read += 1;
                stats.bytes_read += outcome.bytes_read;
                stats.records_read += outcome.batch.records.len();
                state.apply(roots, job, outcome);
            }
            Err(_) => stats.unreadable_files += 1,
        });

        let mut cleared = false;
        if !self.config.keep_deleted_files {
            for id in 0..state.files.len() {
                if !state.files[id].present && !state.files[id].records.is_empty() {
                    state.clear_file(id as u32);
                    cleared = true;
                }
            }
        }

        if let Some(dir) = &self.config.cache_dir {
            state.save(dir)?;
        }
        let mut result = match state.last.take() {
            Some(last) if !changed && !cleared => last,
            _ => ScanResult::from_ledger(
                &state.ledger,
                &state.strings,
                &self.config.prices,
                &state.projects,
            ),
        };
        state.last = Some(result.clone());
        stats.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        result.stats = stats;
        Ok(result)
    }

    fn load_state(&self, stats: &mut ScanStats) -> Result<State> {
        let mut state = State {
            strings: Strings::default(),
            ledger: Ledger::new(self.config.zone),
            files: Vec::new(),
            by_path: FxHashMap::default(),
            dirty: vec![false; SHARDS],
            directories: DirectoryCache::default(),
            projects: FxHashMap::default(),
            last: None,
        };
        if let Some(dir) = &self.config.cache_dir {
            let mut files = cache::load(dir, &mut state.strings)?;
            // A cache shared with another configuration keeps only this one's files.
            files.retain(|file| {
                self.config
                    .roots
                    .iter()
                    .any(|root| root.provider == file.provider && file.path.starts_with(&root.path))
            });
            stats.cached_files = files.len();
            for file in files {
                let id = state.files.len() as u32;
                for record in &file.records {
                    state
                        .ledger
                        .insert(file.provider, id, record, &state.strings);
                    if let Some(project) = &file.project {
                        state
                            .projects
                            .entry(record.entry.session)
                            .or_insert_with(|| project.clone());
                    }
                }
                state.by_path.insert(file.path.clone().into_os_string(), id);
                state.files.push(file);
            }
        }
        Ok(state)
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("files", &self.files.len())
            .field(
                "records",
                &self.files.iter().map(|f| f.records.len()).sum::<usize>(),
            )
            .finish_non_exhaustive()
    }
}

impl State {
    fn apply(&mut self, roots: &[crate::config::LogRoot], job: Job, outcome: Outcome) {
        let found = job.found;
        let id = match job.file {
            Some(id) => id,
            None => {
                let id = self.files.len() as u32;
                self.by_path.insert(found.path.clone().into_os_string(), id);
                self.files.push(FileState::new(
                    found.path.clone(),
                    job.provider,
                    project_of(&roots[found.root], &found.path),
                ));
                id
            }
        };
        if outcome.restarted {
            self.clear_file(id);
        }
        let provider = job.provider;
        let local: Vec<u32> = outcome
            .batch
            .strings
            .iter()
            .map(|text| self.strings.intern(text))
            .collect();
        let file = &mut self.files[id as usize];
        if file.project.is_none() {
            file.project.clone_from(&outcome.codex.cwd);
        }
        for parsed in &outcome.batch.records {
            let record = Record {
                key: parsed.key,
                entry: Entry {
                    timestamp_ms: parsed.timestamp_ms,
                    model: local[parsed.model as usize],
                    session: local[parsed.session as usize],
                    tokens: parsed.tokens,
                },
            };
            if let RecordKey::Claude {
                message,
                request,
                sidechain,
            } = record.key
            {
                let key = (message, request, sidechain);
                if let Some(&position) = file.claude_index.get(&key) {
                    let kept = file.records[position];
                    if compare(&record.entry, &kept.entry, &self.strings).is_gt() {
                        self.ledger.remove(provider, id, &kept, &self.strings);
                        self.ledger.insert(provider, id, &record, &self.strings);
                        file.records[position] = record;
                    }
                    continue;
                }
                file.claude_index.insert(key, file.records.len());
            }
            self.ledger.insert(provider, id, &record, &self.strings);
            if let Some(project) = &file.project {
                self.projects
                    .entry(record.entry.session)
                    .or_insert_with(|| project.clone());
            }
            file.records.push(record);
        }
        file.size = outcome.size;
        file.mtime = found.mtime;
        file.offset = outcome.offset;
        file.codex = outcome.codex;
        file.resumable = outcome.resumable;
        file.present = true;
        self.dirty[cache::shard_of(&file.path)] = true;
    }

    fn clear_file(&mut self, id: u32) {
        let file = &mut self.files[id as usize];
        let records = std::mem::take(&mut file.records);
        file.claude_index.clear();
        file.offset = 0;
        file.codex = CodexState::default();
        let provider = file.provider;
        self.dirty[cache::shard_of(&file.path)] = true;
        for record in &records {
            self.ledger.remove(provider, id, record, &self.strings);
        }
    }

    fn save(&mut self, dir: &Path) -> Result<()> {
        if !self.dirty.iter().any(|dirty| *dirty) {
            return Ok(());
        }
        let mut shards: Vec<Vec<&FileState>> = vec![Vec::new(); SHARDS];
        for file in &self.files {
            let shard = cache::shard_of(&file.path);
            if self.dirty[shard] {
                shards[shard].push(file);
            }
        }
        for (shard, files) in shards.iter().enumerate() {
            if self.dirty[shard] {
                cache::save(dir, shard, files, &self.strings)?;
            }
        }
        self.dirty.iter_mut().for_each(|dirty| *dirty = false);
        Ok(())
    }
}

/// Reads the jobs on `threads` worker threads and hands each outcome to `apply` on
/// the calling thread as soon as it is ready (so parsed batches do not pile up).
fn read_in_parallel(
    jobs: Vec<Job>,
    threads: usize,
    mut apply: impl FnMut(Job, std::io::Result<Outcome>),
) {
    if jobs.is_empty() {
        return;
    }
    let threads = threads.min(jobs.len()).max(1);
    // Largest first, so one big file does not finish last on its own.
    let mut jobs = jobs;
    jobs.sort_by_key(|job| {
        std::cmp::Reverse(
            job.found.size - job.start.as_ref().map_or(0, |s| s.0.min(job.found.size)),
        )
    });
    let slots: Vec<Mutex<Option<Job>>> =
        jobs.into_iter().map(|job| Mutex::new(Some(job))).collect();
    let next = AtomicUsize::new(0);
    let (sender, receiver) = std::sync::mpsc::sync_channel(threads * 4);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let sender = sender.clone();
            let (slots, next) = (&slots, &next);
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(slot) = slots.get(index) else {
                        break;
                    };
                    let Some(job) = slot.lock().ok().and_then(|mut slot| slot.take()) else {
                        continue;
                    };
                    let outcome = read_file(&job);
                    if sender.send((job, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        for (job, outcome) in receiver {
            apply(job, outcome);
        }
    });
}

fn read_file(job: &Job) -> std::io::Result<Outcome> {
    let mut file = File::open(&job.found.path)?;
    let size = file.metadata()?.len();
    let (start, mut codex_state, restarted) = match &job.start {
        Some((offset, state)) if *offset <= size => (*offset, state.clone(), false),
        _ => (0, CodexState::default(), true),
    };
    let session = job
        .found
        .path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut batch = ParsedBatch::default();
    let mut resumable = true;
    let offset = match job.provider {
        LogSource::Claude => for_each_complete_line(&mut file, start, size, |line| {
            claude::parse_line(line, &session, &mut batch);
            ControlFlow::Continue(())
        })?,
        LogSource::Codex => {
            if start == 0 {
                resumable = probe_codex_replay(&mut file, size, &mut codex_state)?;
            }
            for_each_complete_line(&mut file, start, size, |line| {
                codex::parse_line(line, &session, &mut codex_state, &mut batch);
                ControlFlow::Continue(())
            })?
        }
    };
    Ok(Outcome {
        restarted,
        bytes_read: offset - start,
        batch,
        offset,
        size,
        codex: codex_state,
        resumable,
    })
}

/// Decides whether a Codex rollout starts with a replayed parent history, and
/// returns whether that decision is final (otherwise the file is re-read from the
/// start when it grows).
fn probe_codex_replay(file: &mut File, size: u64, state: &mut CodexState) -> std::io::Result<bool> {
    let mut head = Vec::new();
    (&mut *file)
        .take(SUBAGENT_PROBE_BYTES)
        .read_to_end(&mut head)?;
    let subagent = codex::is_subagent_probe(&head);
    if !subagent {
        return Ok(size >= SUBAGENT_PROBE_BYTES);
    }
    let mut seconds = Vec::with_capacity(2);
    for_each_complete_line(file, 0, size, |line| {
        if let Some(second) = codex::usage_event_second(line) {
            seconds.push(second);
            if seconds.len() == 2 {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })?;
    if let [first, second] = seconds[..] {
        state.replay_second = (first == second).then_some(first);
        state.skipping_replay = state.replay_second.is_some();
        Ok(true)
    } else {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scanner_can_move_to_a_blocking_thread() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<Scanner>();
        assert_send::<ScanResult>();
    }
}
