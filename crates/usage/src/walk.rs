//! Finding log files, cheaply enough to do every few seconds.
//!
//! Directory listings are cached by the directory's mtime (adding, removing or
//! renaming an entry changes it), so an unchanged tree costs one `stat` per directory
//! instead of `open` + `getdents` + `close`. A listing read less than
//! [`RACY_WINDOW`] after the directory's mtime is not trusted (an entry added within
//! the same timestamp tick would not change the mtime) and is read again next time.
//! The tree is walked level by level with the `stat` calls of each level spread over
//! threads; appends change only a file's size and mtime, so every file is `stat`ed.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustc_hash::FxHashMap;

use crate::config::{Layout, LogRoot};
use crate::record::LogSource;

const RACY_WINDOW: Duration = Duration::from_secs(2);

/// A log file found by the walk.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) root: usize,
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    pub(crate) mtime: (i64, u32),
}

#[derive(Debug, Default)]
struct Listing {
    mtime: (i64, u32),
    trusted: bool,
    directories: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

/// Cached directory listings of earlier walks (in memory only), keyed by path bytes.
#[derive(Debug, Default)]
pub(crate) struct DirectoryCache {
    listings: FxHashMap<OsString, Listing>,
}

pub(crate) fn mtime_of(metadata: &fs::Metadata) -> (i64, u32) {
    match metadata.modified() {
        Ok(time) => match time.duration_since(UNIX_EPOCH) {
            Ok(duration) => (duration.as_secs() as i64, duration.subsec_nanos()),
            Err(before) => (-(before.duration().as_secs() as i64), 0),
        },
        Err(_) => (0, 0),
    }
}

/// The project of a Claude log: the first folder below the root, if the file is in one.
pub(crate) fn project_of(root: &LogRoot, path: &Path) -> Option<String> {
    if root.provider != LogSource::Claude {
        return None;
    }
    let relative = path.strip_prefix(&root.path).ok()?;
    let mut components = relative.components();
    let first = components.next()?;
    components
        .next()
        .map(|_| first.as_os_str().to_string_lossy().into_owned())
}

/// Runs `work` over `items` on up to `threads` threads, keeping the order.
fn parallel_map<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    work: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() < 128 {
        return items.into_iter().map(work).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let mut chunks: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut rest = items;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(work).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap_or_default())
            .collect()
    })
}

/// What one directory visit found out.
enum Visit {
    Gone,
    Cached,
    Read(Listing),
}

/// All `*.jsonl` files under the roots, with their size and mtime.
pub(crate) fn walk(roots: &[LogRoot], cache: &mut DirectoryCache, threads: usize) -> Vec<Found> {
    let now = SystemTime::now();
    let mut files: Vec<(usize, PathBuf)> = Vec::new();
    let mut level: Vec<Pending> = Vec::new();
    for (index, root) in roots.iter().enumerate() {
        let above = match &root.layout {
            Layout::Tree => None,
            Layout::Nested { depth, .. } => Some(*depth),
        };
        push_directory(&mut level, root, index, root.path.clone(), above);
    }
    while !level.is_empty() {
        let listings = &cache.listings;
        let visits = parallel_map(level, threads, |(root, directory, above)| {
            let visit = match fs::metadata(&directory) {
                Ok(metadata) if metadata.is_dir() => {
                    let mtime = mtime_of(&metadata);
                    let cached = listings
                        .get(directory.as_os_str())
                        .is_some_and(|listing| listing.trusted && listing.mtime == mtime);
                    if cached {
                        Visit::Cached
                    } else {
                        Visit::Read(read_listing(&directory, mtime, &metadata, now))
                    }
                }
                _ => Visit::Gone,
            };
            (root, directory, above, visit)
        });
        let mut next = Vec::new();
        for (root, directory, above, visit) in visits {
            let key = directory.into_os_string();
            match visit {
                Visit::Gone => {
                    cache.listings.remove(&key);
                    continue;
                }
                Visit::Read(listing) => {
                    cache.listings.insert(key.clone(), listing);
                }
                Visit::Cached => {}
            }
            if let Some(listing) = cache.listings.get(&key) {
                let below = above.map(|levels| levels - 1);
                for child in &listing.directories {
                    push_directory(&mut next, &roots[root], root, child.clone(), below);
                }
                if above.is_none() {
                    files.extend(listing.files.iter().map(|f| (root, f.clone())));
                }
            }
        }
        level = next;
    }
    parallel_map(files, threads, |(root, path)| {
        let metadata = fs::metadata(&path).ok()?;
        Some(Found {
            root,
            path,
            size: metadata.len(),
            mtime: mtime_of(&metadata),
        })
    })
    .into_iter()
    .flatten()
    .collect()
}

/// A directory still to visit: its root, its path, and for a [`Layout::Nested`]
/// root how many levels it is above the log folders (`None` inside them).
type Pending = (usize, PathBuf, Option<usize>);

/// Queues `directory`; one at the depth of a nested root's log folders is replaced
/// by those folders.
fn push_directory(
    level: &mut Vec<Pending>,
    root: &LogRoot,
    index: usize,
    directory: PathBuf,
    above: Option<usize>,
) {
    match (above, &root.layout) {
        (Some(0), Layout::Nested { folders, .. }) => {
            level.extend(
                folders
                    .iter()
                    .map(|folder| (index, directory.join(folder), None)),
            );
        }
        _ => level.push((index, directory, above)),
    }
}

fn read_listing(
    directory: &Path,
    mtime: (i64, u32),
    metadata: &fs::Metadata,
    now: SystemTime,
) -> Listing {
    let trusted = metadata
        .modified()
        .ok()
        .and_then(|modified| now.duration_since(modified).ok())
        .is_some_and(|age| age > RACY_WINDOW);
    let mut listing = Listing {
        mtime,
        trusted,
        ..Listing::default()
    };
    let Ok(entries) = fs::read_dir(directory) else {
        listing.trusted = false;
        return listing;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            listing.directories.push(path);
        } else if kind.is_file() && path.extension().is_some_and(|ext| ext == "jsonl") {
            listing.files.push(path);
        }
    }
    listing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_mtime(path: &Path, time: SystemTime) {
        fs::File::open(path)
            .and_then(|dir| dir.set_modified(time))
            .expect("set the directory's mtime");
    }

    fn names(found: &[Found]) -> Vec<String> {
        let mut names: Vec<String> = found
            .iter()
            .filter_map(|f| f.path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn reuses_a_listing_until_the_directory_changes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let project = dir.path().join("p");
        fs::create_dir(&project).expect("mkdir");
        fs::write(project.join("a.jsonl"), "{}\n").expect("write");
        fs::write(project.join("notes.txt"), "x").expect("write");
        let old = SystemTime::now() - Duration::from_secs(3600);
        set_mtime(&project, old);
        set_mtime(dir.path(), old);
        let roots = [LogRoot::claude(dir.path())];
        let mut cache = DirectoryCache::default();
        assert_eq!(names(&walk(&roots, &mut cache, 2)), ["a.jsonl"]);

        // A file added behind the cache's back (mtime restored) is not listed: the
        // listing was reused, not read again.
        fs::write(project.join("b.jsonl"), "{}\n").expect("write");
        set_mtime(&project, old);
        assert_eq!(names(&walk(&roots, &mut cache, 2)), ["a.jsonl"]);

        // A normal addition changes the directory's mtime and is found.
        fs::write(project.join("c.jsonl"), "{}\n").expect("write");
        assert_eq!(
            names(&walk(&roots, &mut cache, 2)),
            ["a.jsonl", "b.jsonl", "c.jsonl"]
        );
        assert_eq!(
            project_of(&roots[0], &project.join("c.jsonl")).as_deref(),
            Some("p")
        );
        assert_eq!(project_of(&roots[0], &dir.path().join("top.jsonl")), None);
    }

    #[test]
    fn a_nested_root_reads_only_its_log_folders() {
        let dir = tempfile::tempdir().expect("temp dir");
        let task = dir.path().join("workspace-1").join("task-1");
        for folder in [
            "codex-home/sessions/2026/11/30",
            "codex-home/archived_sessions",
            "workdir/logs",
        ] {
            fs::create_dir_all(task.join(folder)).expect("mkdir");
        }
        fs::write(
            task.join("codex-home/sessions/2026/11/30/rollout.jsonl"),
            "{}\n",
        )
        .expect("write");
        fs::write(task.join("codex-home/archived_sessions/old.jsonl"), "{}\n").expect("write");
        // A checkout's own JSONL files and files above the log folders are not logs.
        fs::write(task.join("workdir/logs/data.jsonl"), "{}\n").expect("write");
        fs::write(task.join("stray.jsonl"), "{}\n").expect("write");
        fs::write(dir.path().join("workspace-1").join("stray.jsonl"), "{}\n").expect("write");
        let roots = [LogRoot::nested(
            LogSource::Codex,
            dir.path(),
            2,
            ["codex-home/sessions", "codex-home/archived_sessions"],
        )];
        let mut cache = DirectoryCache::default();
        assert_eq!(
            names(&walk(&roots, &mut cache, 2)),
            ["old.jsonl", "rollout.jsonl"]
        );
        // A task added later is found on the next walk.
        let later = dir
            .path()
            .join("workspace-2")
            .join("task-9")
            .join("codex-home/sessions");
        fs::create_dir_all(&later).expect("mkdir");
        fs::write(later.join("new.jsonl"), "{}\n").expect("write");
        assert_eq!(
            names(&walk(&roots, &mut cache, 2)),
            ["new.jsonl", "old.jsonl", "rollout.jsonl"]
        );
    }

    #[test]
    fn does_not_trust_a_listing_of_a_directory_changed_just_now() {
        let dir = tempfile::tempdir().expect("temp dir");
        let roots = [LogRoot::claude(dir.path())];
        let mut cache = DirectoryCache::default();
        assert!(walk(&roots, &mut cache, 1).is_empty());
        // Same mtime tick is possible here: the fresh listing must not be trusted.
        let mtime = mtime_of(&fs::metadata(dir.path()).expect("stat"));
        fs::write(dir.path().join("a.jsonl"), "{}\n").expect("write");
        set_mtime(
            dir.path(),
            UNIX_EPOCH + Duration::new(mtime.0 as u64, mtime.1),
        );
        assert_eq!(names(&walk(&roots, &mut cache, 1)), ["a.jsonl"]);
    }
}
