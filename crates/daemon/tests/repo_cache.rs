//! The repository cache against real git: local bare repositories stand in for
//! the remotes.
#![cfg(unix)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use multica_daemon::repo_cache::{CheckoutRequest, RepoCache, RepoCacheError};
use support::git::{Remote, git};
use tempfile::TempDir;

const WORKSPACE: &str = "ws-1";
const TASK: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";

struct Machine {
    root: TempDir,
    cache: RepoCache,
}

impl Machine {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("workspaces root");
        let cache = RepoCache::new(root.path().join(".repos"));
        Self { root, cache }
    }

    /// A fresh task work dir.
    fn work_dir(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(WORKSPACE).join(name).join("workdir");
        std::fs::create_dir_all(&dir).expect("work dir");
        dir
    }

    fn cached_repos(&self) -> Vec<String> {
        support::entries(&self.root.path().join(".repos").join(WORKSPACE))
    }
}

fn request<'a>(url: &'a str, work_dir: &'a Path, task_id: &'a str) -> CheckoutRequest<'a> {
    CheckoutRequest {
        workspace_id: WORKSPACE,
        url,
        work_dir,
        agent_name: "Claude Code",
        task_id,
        git_ref: None,
        lock_wait: None,
    }
}

#[tokio::test]
async fn checkout_makes_a_worktree_on_the_agent_branch_with_context_files_ignored() {
    let remote = Remote::new("app");
    let machine = Machine::new();
    let work_dir = machine.work_dir("task1");
    let url = remote.url();

    let checkout = machine
        .cache
        .checkout(&request(&url, &work_dir, TASK))
        .await
        .expect("checkout");

    assert_eq!(checkout.path, work_dir.join("app"));
    assert_eq!(checkout.branch_name, "agent/claude-code/3f2504e0");
    assert_eq!(checkout.stale_because, None);
    assert_eq!(
        std::fs::read_to_string(checkout.path.join("README.md")).expect("file"),
        "hello\n"
    );
    assert_eq!(
        git(&checkout.path, &["branch", "--show-current"]),
        checkout.branch_name
    );
    // Pushes go to the real remote, and a plain `git push` cannot hit main.
    assert_eq!(git(&checkout.path, &["remote", "get-url", "origin"]), url);
    assert_eq!(
        git(
            &checkout.path,
            &[
                "config",
                "--default",
                "",
                "--get",
                &format!("branch.{}.merge", checkout.branch_name)
            ]
        ),
        ""
    );
    // The context files the daemon writes stay out of git.
    std::fs::write(checkout.path.join("CLAUDE.md"), "brief").expect("write");
    std::fs::create_dir_all(checkout.path.join(".agent_context")).expect("mkdir");
    std::fs::write(checkout.path.join(".agent_context/issue_context.md"), "ctx").expect("write");
    assert_eq!(git(&checkout.path, &["status", "--porcelain"]), "");

    // One bare clone, with remote-tracking refs and a last-used stamp for the GC.
    assert_eq!(machine.cached_repos().len(), 1);
    let bare = machine.cache.bare_path(WORKSPACE, &url);
    assert!(bare.join("HEAD").is_file());
    assert!(multica_daemon::repo_cache::last_used(&bare).is_some());
    assert!(!git(&bare, &["for-each-ref", "refs/remotes/origin/main"]).is_empty());
}

#[tokio::test]
async fn a_later_checkout_sees_new_commits_and_can_start_from_a_ref() {
    let remote = Remote::new("app");
    let machine = Machine::new();
    let url = remote.url();
    let first = machine.work_dir("task1");
    machine
        .cache
        .checkout(&request(&url, &first, TASK))
        .await
        .expect("first checkout");

    let newer = remote.commit("CHANGELOG.md", "v2\n", "second commit");
    git(&remote.author, &["tag", "v1", "HEAD~1"]);
    git(&remote.author, &["push", "--quiet", "origin", "v1"]);
    git(&remote.author, &["checkout", "--quiet", "-b", "release"]);
    let release = remote.commit("RELEASE.md", "r\n", "release commit");

    let second = machine.work_dir("task2");
    let checkout = machine
        .cache
        .checkout(&request(&url, &second, "aaaaaaaa-0000"))
        .await
        .expect("second checkout");
    assert_eq!(
        git(&checkout.path, &["rev-parse", "HEAD"]),
        newer,
        "fetched first"
    );

    let third = machine.work_dir("task3");
    let checkout = machine
        .cache
        .checkout(&CheckoutRequest {
            git_ref: Some("release"),
            ..request(&url, &third, "bbbbbbbb-0000")
        })
        .await
        .expect("checkout of a branch");
    assert_eq!(git(&checkout.path, &["rev-parse", "HEAD"]), release);

    let fourth = machine.work_dir("task4");
    let checkout = machine
        .cache
        .checkout(&CheckoutRequest {
            git_ref: Some("v1"),
            ..request(&url, &fourth, "cccccccc-0000")
        })
        .await
        .expect("checkout of a tag");
    assert!(checkout.path.join("README.md").exists());
    assert!(
        !checkout.path.join("CHANGELOG.md").exists(),
        "the tag predates it"
    );

    let fifth = machine.work_dir("task5");
    let error = machine
        .cache
        .checkout(&CheckoutRequest {
            git_ref: Some("no-such-branch"),
            ..request(&url, &fifth, "dddddddd-0000")
        })
        .await
        .expect_err("unknown ref");
    assert!(
        matches!(error, RepoCacheError::UnknownRef { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("no-such-branch"));
    assert!(!fifth.join("app").exists());
}

#[tokio::test]
async fn two_concurrent_checkouts_of_one_repository_both_succeed() {
    let remote = Remote::new("app");
    let machine = Machine::new();
    let url = remote.url();
    let (a, b) = (machine.work_dir("task-a"), machine.work_dir("task-b"));
    let (request_a, request_b) = (
        request(&url, &a, "aaaaaaaa-1"),
        request(&url, &b, "bbbbbbbb-2"),
    );
    let (left, right) = tokio::join!(
        machine.cache.checkout(&request_a),
        machine.cache.checkout(&request_b),
    );
    let (left, right) = (left.expect("first"), right.expect("second"));
    assert_ne!(left.path, right.path);
    assert_eq!(left.branch_name, "agent/claude-code/aaaaaaaa");
    assert_eq!(right.branch_name, "agent/claude-code/bbbbbbbb");
    assert_eq!(machine.cached_repos().len(), 1, "cloned once");
    let bare = machine.cache.bare_path(WORKSPACE, &url);
    let worktrees = git(&bare, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 3, "{worktrees}");
}

#[tokio::test]
async fn a_taken_branch_name_gets_a_suffix() {
    let remote = Remote::new("app");
    let machine = Machine::new();
    let url = remote.url();
    // The same agent and task id in two work dirs (a retried task, say).
    let first = machine
        .cache
        .checkout(&request(&url, &machine.work_dir("one"), TASK))
        .await
        .expect("first");
    let second = machine
        .cache
        .checkout(&request(&url, &machine.work_dir("two"), TASK))
        .await
        .expect("second");
    let third = machine
        .cache
        .checkout(&request(&url, &machine.work_dir("three"), TASK))
        .await
        .expect("third");
    assert_eq!(first.branch_name, "agent/claude-code/3f2504e0");
    assert_eq!(second.branch_name, "agent/claude-code/3f2504e0-2");
    assert_eq!(third.branch_name, "agent/claude-code/3f2504e0-3");
}

#[tokio::test]
async fn checking_out_again_in_the_same_task_keeps_the_work() {
    let remote = Remote::new("app");
    let machine = Machine::new();
    let url = remote.url();
    let work_dir = machine.work_dir("task1");
    let first = machine
        .cache
        .checkout(&request(&url, &work_dir, TASK))
        .await
        .expect("first");
    std::fs::write(first.path.join("work.txt"), "in progress").expect("write");

    let again = machine
        .cache
        .checkout(&request(&url, &work_dir, TASK))
        .await
        .expect("again");
    assert_eq!(again, first);
    assert_eq!(
        std::fs::read_to_string(first.path.join("work.txt")).expect("kept"),
        "in progress"
    );

    // A later task of the same agent and issue re-uses the directory on its own branch.
    let next = machine
        .cache
        .checkout(&request(&url, &work_dir, "eeeeeeee-9"))
        .await
        .expect("next task");
    assert_eq!(next.path, first.path);
    assert_eq!(next.branch_name, "agent/claude-code/eeeeeeee");
    assert_eq!(
        git(&next.path, &["branch", "--show-current"]),
        "agent/claude-code/eeeeeeee"
    );

    // A directory of that name that is not a worktree is left alone.
    let other = machine.work_dir("task2");
    std::fs::create_dir_all(other.join("app")).expect("mkdir");
    std::fs::write(other.join("app").join("mine.txt"), "x").expect("write");
    let error = machine
        .cache
        .checkout(&request(&url, &other, "ffffffff-1"))
        .await
        .expect_err("taken");
    assert!(matches!(error, RepoCacheError::PathTaken { .. }), "{error}");
    assert!(other.join("app").join("mine.txt").exists());
}

#[tokio::test]
async fn a_missing_repository_fails_with_gits_message_and_leaves_nothing() {
    let machine = Machine::new();
    let missing = machine.root.path().join("nowhere").join("gone.git");
    let url = missing.to_string_lossy().into_owned();
    let work_dir = machine.work_dir("task1");
    let error = machine
        .cache
        .checkout(&request(&url, &work_dir, TASK))
        .await
        .expect_err("nothing to clone");
    let message = error.to_string();
    assert!(matches!(error, RepoCacheError::Git { .. }), "{message}");
    assert!(message.contains("git clone"), "{message}");
    assert!(
        message.contains("does not exist") || message.contains("not a git repository"),
        "git's own reason is shown: {message}"
    );
    assert!(
        machine.cached_repos().is_empty(),
        "no half clone left behind"
    );
    assert!(std::fs::read_dir(&work_dir).expect("dir").next().is_none());
}

#[tokio::test]
async fn a_failed_fetch_falls_back_to_the_cached_copy() {
    let remote = Remote::new("app");
    let machine = Machine::new();
    let url = remote.url();
    machine
        .cache
        .refresh(WORKSPACE, &url)
        .await
        .expect("clone in the background");
    // The remote goes away (network down, repository moved).
    let moved = remote.dir.path().join("moved.git");
    std::fs::rename(&remote.bare, &moved).expect("move");

    let work_dir = machine.work_dir("task1");
    let checkout = machine
        .cache
        .checkout(&request(&url, &work_dir, TASK))
        .await
        .expect("checkout from the cache");
    let reason = checkout.stale_because.expect("says it is stale");
    assert!(reason.contains("git fetch"), "{reason}");
    assert!(checkout.path.join("README.md").exists());

    let error = machine
        .cache
        .refresh(WORKSPACE, &url)
        .await
        .expect_err("background fetch reports the failure");
    assert!(matches!(error, RepoCacheError::Git { .. }), "{error}");
}

#[tokio::test]
async fn a_checkout_that_may_not_wait_reports_a_busy_repository() {
    let remote = Remote::new("app");
    let machine = Machine::new();
    let url = remote.url();
    machine.cache.refresh(WORKSPACE, &url).await.expect("clone");
    let bare = machine.cache.bare_path(WORKSPACE, &url);
    let work_dir = machine.work_dir("task1");
    let error = machine
        .cache
        .with_repo_locked(&bare, async || {
            machine
                .cache
                .checkout(&CheckoutRequest {
                    lock_wait: Some(Duration::from_millis(100)),
                    ..request(&url, &work_dir, TASK)
                })
                .await
        })
        .await
        .expect_err("busy");
    assert!(matches!(error, RepoCacheError::Busy { .. }), "{error}");
    assert!(!work_dir.join("app").exists());
}
