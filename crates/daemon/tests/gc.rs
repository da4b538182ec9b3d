//! The collector with a fake clock (every pass is judged at a chosen `now`) and a
//! table of issue states in place of the server; repositories are real git.
#![cfg(unix)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use multica_daemon::disk_usage;
use multica_daemon::gc::{Collector, GcMeta, GcSettings, IssueState, IssueStates, TaskDirLocks};
use multica_daemon::repo_cache::{CheckoutRequest, RepoCache};
use support::git::Remote;

const HOUR: Duration = Duration::from_secs(3600);
const WS: &str = "ws-1";

struct Table(BTreeMap<String, IssueState>);

impl IssueStates for Table {
    async fn state(&self, _workspace_id: &str, issue_id: &str) -> IssueState {
        self.0.get(issue_id).copied().unwrap_or(IssueState::Unknown)
    }
}

struct Root {
    dir: tempfile::TempDir,
    locks: Arc<TaskDirLocks>,
    repos: RepoCache,
}

impl Root {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("root");
        let repos = RepoCache::new(dir.path().join(".repos"));
        Self {
            dir,
            locks: Arc::new(TaskDirLocks::default()),
            repos,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A finished task's directory with a file of `bytes` in its work dir.
    fn task_dir(&self, name: &str, issue: Option<&str>, completed_at: SystemTime) -> PathBuf {
        let root = self.path().join(WS).join(name);
        let work = root.join("workdir");
        std::fs::create_dir_all(work.join("src")).expect("mkdir");
        std::fs::write(work.join("src").join("main.rs"), "fn main() {}\n").expect("write");
        std::fs::create_dir_all(root.join("logs")).expect("mkdir");
        if let Some(issue) = issue {
            GcMeta::for_issue(WS, issue, name, completed_at)
                .write(&root)
                .expect("meta");
        }
        root
    }

    async fn collect(
        &self,
        issues: &Table,
        listed: &BTreeMap<String, Vec<String>>,
        now: SystemTime,
    ) -> multica_daemon::gc::GcReport {
        let settings = GcSettings::default();
        Collector {
            root: self.path(),
            settings: &settings,
            locks: &self.locks,
            repos: &self.repos,
            listed_repos: listed,
            issues,
        }
        .collect(now)
        .await
    }
}

fn write_artifacts(work: &Path) {
    for dir in [
        work.join("node_modules").join("left-pad"),
        work.join("web").join(".next").join("cache"),
        work.join("pkg").join(".turbo"),
    ] {
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("blob"), vec![7u8; 64 * 1024]).expect("write");
    }
}

#[tokio::test]
async fn task_directories_go_by_the_go_daemons_rules() {
    let root = Root::new();
    let now = SystemTime::now();
    let long_ago = now - 100 * HOUR;

    let done_old = root.task_dir("doneold1", Some("issue-done-old"), long_ago);
    let done_recent = root.task_dir("donenew1", Some("issue-done-recent"), long_ago);
    let open_old = root.task_dir("openold1", Some("issue-open"), now - 13 * HOUR);
    write_artifacts(&open_old.join("workdir"));
    let open_recent = root.task_dir("opennew1", Some("issue-open-2"), now - HOUR);
    write_artifacts(&open_recent.join("workdir"));
    let missing_recent = root.task_dir("missnew1", Some("issue-gone-1"), now - 10 * HOUR);
    let missing_old = root.task_dir("missold1", Some("issue-gone-2"), long_ago);
    let unknown = root.task_dir("unknown1", Some("issue-unknown"), long_ago);
    let held = root.task_dir("running1", Some("issue-done-old-2"), long_ago);
    let no_meta = root.task_dir("nometa01", None, now);

    let issues = Table(BTreeMap::from([
        (
            "issue-done-old".into(),
            IssueState::Closed {
                updated_at: now - 25 * HOUR,
            },
        ),
        (
            "issue-done-old-2".into(),
            IssueState::Closed {
                updated_at: now - 25 * HOUR,
            },
        ),
        (
            "issue-done-recent".into(),
            IssueState::Closed {
                updated_at: now - 23 * HOUR,
            },
        ),
        ("issue-open".into(), IssueState::Open),
        ("issue-open-2".into(), IssueState::Open),
        ("issue-gone-1".into(), IssueState::Missing),
        ("issue-gone-2".into(), IssueState::Missing),
    ]));
    let before = disk_usage::measure(root.path(), &GcSettings::default().artifact_patterns);
    assert_eq!(before.task_dirs, 9);
    assert!(before.artifact_bytes >= 6 * 64 * 1024, "{before:?}");

    let hold = root
        .locks
        .try_hold(&held)
        .expect("a running task holds its dir");
    let report = root.collect(&issues, &BTreeMap::new(), now).await;

    assert!(!done_old.exists(), "done for over 24 h: removed");
    assert!(done_recent.exists(), "done for under 24 h: kept");
    assert!(
        !missing_old.exists(),
        "unknown to the server for over 72 h: removed"
    );
    assert!(
        missing_recent.exists(),
        "unknown to the server for under 72 h: kept"
    );
    assert!(
        unknown.exists(),
        "no answer from the server: nothing decided"
    );
    assert!(held.exists(), "a directory in use is never touched");
    assert!(no_meta.exists(), "a fresh directory without meta is kept");

    let work = open_old.join("workdir");
    assert!(!work.join("node_modules").exists());
    assert!(!work.join("web").join(".next").exists());
    assert!(!work.join("pkg").join(".turbo").exists());
    assert!(
        work.join("src").join("main.rs").exists(),
        "the work itself stays"
    );
    assert!(work.join("web").exists());
    assert!(
        open_recent.join("workdir").join("node_modules").exists(),
        "build output of a task finished under 12 h ago stays"
    );

    assert_eq!(report.cleaned, 1);
    assert_eq!(report.orphaned, 1);
    assert_eq!(report.artifacts_removed, 3);
    assert_eq!(report.in_use, 1);
    assert!(report.bytes_reclaimed >= 3 * 64 * 1024, "{report:?}");

    // Three days on, the directory without meta is an orphan; the held one is
    // still held.
    let later = now + 73 * HOUR;
    let report = root.collect(&issues, &BTreeMap::new(), later).await;
    assert!(!no_meta.exists());
    assert!(held.exists());
    assert_eq!(report.in_use, 1);
    drop(hold);
    root.collect(&issues, &BTreeMap::new(), later).await;
    assert!(!held.exists(), "released, then collected");
}

#[tokio::test]
async fn an_emptied_workspace_directory_goes_too() {
    let root = Root::new();
    let now = SystemTime::now();
    let dir = root.task_dir("orphan01", None, now);
    let issues = Table(BTreeMap::new());
    root.collect(&issues, &BTreeMap::new(), now + 73 * HOUR)
        .await;
    assert!(!dir.exists());
    assert!(!root.path().join(WS).exists());
}

#[tokio::test]
async fn cached_clones_are_pruned_and_evicted_only_when_unused_and_unlisted() {
    let root = Root::new();
    let used = Remote::new("used");
    let listed = Remote::new("listed");
    let stale = Remote::new("stale");
    for remote in [&used, &listed, &stale] {
        root.repos.refresh(WS, &remote.url()).await.expect("clone");
    }
    // A task of an open issue checked `used` out; its directory stays.
    let task_dir = root.task_dir("task0001", Some("issue"), SystemTime::now());
    let work_dir = task_dir.join("workdir");
    let url = used.url();
    root.repos
        .checkout(&CheckoutRequest {
            workspace_id: WS,
            url: &url,
            work_dir: &work_dir,
            agent_name: "claude",
            task_id: "task0001-aaaa",
            git_ref: None,
            lock_wait: None,
        })
        .await
        .expect("checkout");
    // And `stale` had a worktree in a directory removed by hand.
    let stale_url = stale.url();
    let gone = root.path().join("elsewhere").join("workdir");
    std::fs::create_dir_all(&gone).expect("mkdir");
    root.repos
        .checkout(&CheckoutRequest {
            workspace_id: WS,
            url: &stale_url,
            work_dir: &gone,
            agent_name: "claude",
            task_id: "task0002-bbbb",
            git_ref: None,
            lock_wait: None,
        })
        .await
        .expect("checkout");
    std::fs::remove_dir_all(root.path().join("elsewhere")).expect("rm");

    let usage = disk_usage::measure(root.path(), &GcSettings::default().artifact_patterns);
    assert_eq!(usage.cached_repos, 3);
    assert_eq!(usage.workspaces.len(), 1);
    assert!(usage.repo_bytes > 0);

    let issues = Table(BTreeMap::from([("issue".to_owned(), IssueState::Open)]));
    let listed_repos = BTreeMap::from([(WS.to_owned(), vec![listed.url()])]);
    let in_31_days = SystemTime::now() + 31 * 24 * HOUR;
    let report = root.collect(&issues, &listed_repos, in_31_days).await;

    assert!(
        !root.repos.bare_path(WS, &stale.url()).exists(),
        "unused, unlisted: evicted after pruning its dead worktree"
    );
    assert!(
        root.repos.bare_path(WS, &listed.url()).exists(),
        "a workspace still lists it"
    );
    assert!(
        root.repos.bare_path(WS, &used.url()).exists(),
        "a task directory still has a worktree of it"
    );
    assert_eq!(report.repos_evicted, 1);

    // Within 30 days nothing is evicted.
    let fresh = Root::new();
    fresh.repos.refresh(WS, &stale_url).await.expect("clone");
    let report = fresh
        .collect(
            &issues,
            &BTreeMap::new(),
            SystemTime::now() + 29 * 24 * HOUR,
        )
        .await;
    assert_eq!(report.repos_evicted, 0);
    assert!(fresh.repos.bare_path(WS, &stale_url).exists());
}
