//! The repository cache: one bare clone per (workspace, repository) under
//! `<workspaces root>/.repos/<workspace>/`, and a `git worktree` per task checkout.
//!
//! Agents ask for a checkout through the local API (`multica repo checkout <url>`);
//! the daemon also keeps the workspace's repositories fetched in the background
//! after registration, so a checkout rarely waits for the network. Every git
//! command runs with `GIT_TERMINAL_PROMPT=0` (a credential prompt would hang the
//! daemon with no terminal to answer it) and a time limit, and a failure carries
//! git's own message. One lock per repository serialises the commands that touch
//! its bare clone, so concurrent checkouts of one repository are safe.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::process::Command;
use tracing::{info, warn};

/// Files the daemon writes into a checkout for the agent; never to be committed.
const CONTEXT_EXCLUDES: &[&str] = &[
    ".agent_context",
    "CLAUDE.md",
    "AGENTS.md",
    ".claude",
    ".opencode",
    ".codex",
];

/// The marker a bare clone carries with the time of its last checkout, for the
/// garbage collector. The Go daemon uses the same name and format (RFC 3339),
/// so a cache shared with it keeps its history.
pub const LAST_USED_FILE: &str = ".multica_last_used";

/// A clone of a big repository over a slow link can take a while; anything
/// beyond this is a hung connection.
const GIT_TIME_LIMIT: Duration = Duration::from_secs(10 * 60);

/// How many `-2`, `-3`… suffixes to try when an agent branch name is taken.
const BRANCH_SUFFIX_LIMIT: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum RepoCacheError {
    #[error("`{command}` failed: {message}")]
    Git { command: String, message: String },
    #[error("`{command}` did not finish within {} minutes and was stopped", GIT_TIME_LIMIT.as_secs() / 60)]
    GitTimedOut { command: String },
    #[error("could not run git ({0}); install git and make sure it is on PATH")]
    GitNotRunnable(std::io::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{url} has no branch to start from: its cached clone at {} is empty", bare.display())]
    NoDefaultBranch { url: String, bare: PathBuf },
    #[error("ref {git_ref:?} is neither a branch, a tag nor a commit of {url}")]
    UnknownRef { url: String, git_ref: String },
    #[error("{} already exists and is not a git worktree; check out into another directory or remove it", path.display())]
    PathTaken { path: PathBuf },
    #[error("every branch name from {base} to {base}-{BRANCH_SUFFIX_LIMIT} is taken")]
    BranchNamesExhausted { base: String },
    #[error("{url} is busy with another checkout")]
    Busy { url: String },
}

impl RepoCacheError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What `multica repo checkout` asked for, with the task it came from.
#[derive(Debug, Clone)]
pub struct CheckoutRequest<'a> {
    pub workspace_id: &'a str,
    pub url: &'a str,
    /// The directory the checkout goes into (as `<work_dir>/<repo name>`).
    pub work_dir: &'a Path,
    pub agent_name: &'a str,
    pub task_id: &'a str,
    /// A branch, tag or commit to start from; the default branch when `None`.
    pub git_ref: Option<&'a str>,
    /// How long to wait for another checkout of the same repository before
    /// answering [`RepoCacheError::Busy`]; `None` waits as long as it takes.
    pub lock_wait: Option<Duration>,
}

/// A ready worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub path: PathBuf,
    pub branch_name: String,
    /// Why the clone could not be brought up to date, when it could not: the
    /// checkout then starts from what was fetched last.
    pub stale_because: Option<String>,
}

/// A request to bring a workspace's cached repositories up to date.
#[derive(Debug)]
pub struct RepoRefresh {
    pub workspace_id: String,
    pub urls: Vec<String>,
}

#[derive(Debug)]
pub struct RepoCache {
    root: PathBuf,
    locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl RepoCache {
    /// A cache rooted at `root` (normally `<workspaces root>/.repos`). Nothing is
    /// created until the first clone.
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            locks: Mutex::new(HashMap::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the bare clone of `url` for `workspace_id` lives.
    pub fn bare_path(&self, workspace_id: &str, url: &str) -> PathBuf {
        self.root.join(workspace_id).join(bare_dir_name(url))
    }

    /// Clones `url` if it is not cached yet, else fetches it. Used in the
    /// background after a workspace registers.
    pub async fn refresh(&self, workspace_id: &str, url: &str) -> Result<(), RepoCacheError> {
        let bare = self.bare_path(workspace_id, url);
        let lock = self.lock_for(&bare);
        let _held = lock.lock().await;
        if is_bare_repo(&bare) {
            fetch(&bare).await
        } else {
            clone_bare(url, &bare).await
        }
    }

    /// Creates (or re-uses) the worktree for a task. The bare clone is made on
    /// first use and fetched otherwise; a failed fetch falls back to the cached
    /// copy and says so in [`Checkout::stale_because`].
    pub async fn checkout(
        &self,
        request: &CheckoutRequest<'_>,
    ) -> Result<Checkout, RepoCacheError> {
        let bare = self.bare_path(request.workspace_id, request.url);
        let lock = self.lock_for(&bare);
        let _held =
            match request.lock_wait {
                None => lock.lock().await,
                Some(wait) => tokio::time::timeout(wait, lock.lock()).await.map_err(|_| {
                    RepoCacheError::Busy {
                        url: request.url.to_owned(),
                    }
                })?,
            };

        let mut stale_because = None;
        if is_bare_repo(&bare) {
            if let Err(error) = fetch(&bare).await {
                warn!(url = request.url, %error, "repo checkout: fetch failed; using the cached copy");
                stale_because = Some(error.to_string());
            }
        } else {
            clone_bare(request.url, &bare).await?;
        }
        mark_used(&bare);
        exclude_context_files(&bare)?;

        let base = resolve_base(&bare, request.url, request.git_ref).await?;
        let wanted_branch = format!(
            "agent/{}/{}",
            sanitize_branch_component(request.agent_name),
            task_key(request.task_id)
        );
        let path = request.work_dir.join(repo_dir_name(request.url));

        let branch_name = if path.join(".git").is_file() {
            reuse_worktree(&bare, &path, &wanted_branch, &base).await?
        } else if path.exists() {
            return Err(RepoCacheError::PathTaken { path });
        } else {
            let branch = free_branch_name(&bare, &wanted_branch).await?;
            git(
                Some(&bare),
                [
                    OsStr::new("worktree"),
                    OsStr::new("add"),
                    // A branch that tracked origin/<default> would make a plain
                    // `git push` aim at the default branch.
                    OsStr::new("--no-track"),
                    OsStr::new("-b"),
                    OsStr::new(&branch),
                    path.as_os_str(),
                    OsStr::new(&base),
                ],
            )
            .await?;
            branch
        };
        info!(url = request.url, path = %path.display(), branch = %branch_name, %base, "repo checkout ready");
        Ok(Checkout {
            path,
            branch_name,
            stale_because,
        })
    }

    /// Forgets worktrees whose directories are gone (`git worktree prune`) and,
    /// when `evict` is set and no worktree is left, deletes the clone. Returns the
    /// bytes freed by a deletion.
    pub async fn prune_and_maybe_evict(
        &self,
        bare: &Path,
        evict: bool,
    ) -> Result<Option<u64>, RepoCacheError> {
        let lock = self.lock_for(bare);
        let _held = lock.lock().await;
        if !is_bare_repo(bare) {
            return Ok(None);
        }
        git(Some(bare), ["worktree", "prune"]).await?;
        if !evict {
            return Ok(None);
        }
        let listing = git(Some(bare), ["worktree", "list", "--porcelain"]).await?;
        // The first entry is the bare clone itself.
        let linked = listing
            .lines()
            .filter(|line| line.starts_with("worktree "))
            .count()
            .saturating_sub(1);
        if linked > 0 {
            return Ok(None);
        }
        let doomed = bare.to_path_buf();
        let bytes = tokio::task::spawn_blocking(move || {
            let bytes = crate::disk_usage::size_of(&doomed);
            std::fs::remove_dir_all(&doomed).map(|()| bytes)
        })
        .await
        .map_err(|e| RepoCacheError::io(bare, std::io::Error::other(e)))?
        .map_err(|e| RepoCacheError::io(bare, e))?;
        Ok(Some(bytes))
    }

    fn lock_for(&self, bare: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(locks.entry(bare.to_path_buf()).or_default())
    }

    /// Runs `work` while holding `bare`'s lock, so nothing else touches that
    /// clone meanwhile (the garbage collector uses this before deleting one).
    pub async fn with_repo_locked<T>(&self, bare: &Path, work: impl AsyncFnOnce() -> T) -> T {
        let lock = self.lock_for(bare);
        let _held = lock.lock().await;
        work().await
    }
}

/// The worktree of an earlier task of the same agent and issue: keep the branch
/// if it is this task's already (a second checkout in one task must not lose
/// work), else start this task's branch from the fresh base.
async fn reuse_worktree(
    bare: &Path,
    path: &Path,
    wanted_branch: &str,
    base: &str,
) -> Result<String, RepoCacheError> {
    let current = git(Some(path), ["branch", "--show-current"]).await?;
    let current = current.trim();
    if current == wanted_branch
        || current
            .strip_prefix(wanted_branch)
            .is_some_and(|rest| rest.starts_with('-'))
    {
        return Ok(current.to_owned());
    }
    let branch = free_branch_name(bare, wanted_branch).await?;
    git(
        Some(path),
        ["checkout", "--no-track", "-b", branch.as_str(), base],
    )
    .await?;
    Ok(branch)
}

async fn free_branch_name(bare: &Path, wanted: &str) -> Result<String, RepoCacheError> {
    for attempt in 1..=BRANCH_SUFFIX_LIMIT {
        let candidate = if attempt == 1 {
            wanted.to_owned()
        } else {
            format!("{wanted}-{attempt}")
        };
        let reference = format!("refs/heads/{candidate}");
        if !succeeds(
            Some(bare),
            ["rev-parse", "--verify", "--quiet", reference.as_str()],
        )
        .await?
        {
            return Ok(candidate);
        }
    }
    Err(RepoCacheError::BranchNamesExhausted {
        base: wanted.to_owned(),
    })
}

/// The commit-ish a new branch starts from.
async fn resolve_base(
    bare: &Path,
    url: &str,
    requested: Option<&str>,
) -> Result<String, RepoCacheError> {
    if let Some(requested) = requested.map(str::trim).filter(|r| !r.is_empty()) {
        for candidate in [
            format!("refs/remotes/origin/{requested}"),
            format!("refs/tags/{requested}"),
            requested.to_owned(),
        ] {
            if commit_exists(bare, &candidate).await? {
                return Ok(candidate);
            }
        }
        return Err(RepoCacheError::UnknownRef {
            url: url.to_owned(),
            git_ref: requested.to_owned(),
        });
    }
    // origin/HEAD names the remote's default branch when set-head worked.
    if let Ok(head) = git(
        Some(bare),
        ["symbolic-ref", "--quiet", "refs/remotes/origin/HEAD"],
    )
    .await
    {
        let head = head.trim();
        if !head.is_empty() && commit_exists(bare, head).await? {
            return Ok(head.to_owned());
        }
    }
    let branches = git(
        Some(bare),
        [
            "for-each-ref",
            "--format=%(refname)",
            "refs/remotes/origin/",
        ],
    )
    .await?;
    let branches: Vec<&str> = branches
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && *line != "refs/remotes/origin/HEAD")
        .collect();
    for preferred in ["refs/remotes/origin/main", "refs/remotes/origin/master"] {
        if branches.contains(&preferred) {
            return Ok(preferred.to_owned());
        }
    }
    if let [only] = branches.as_slice() {
        return Ok((*only).to_owned());
    }
    Err(RepoCacheError::NoDefaultBranch {
        url: url.to_owned(),
        bare: bare.to_path_buf(),
    })
}

async fn commit_exists(repo: &Path, reference: &str) -> Result<bool, RepoCacheError> {
    let spec = format!("{reference}^{{commit}}");
    succeeds(
        Some(repo),
        ["rev-parse", "--verify", "--quiet", spec.as_str()],
    )
    .await
}

/// `git clone --bare` into a temporary name first: a clone cut short (network,
/// a killed daemon) must not look like a cached repository afterwards.
async fn clone_bare(url: &str, bare: &Path) -> Result<(), RepoCacheError> {
    let parent = bare.parent().unwrap_or(bare);
    std::fs::create_dir_all(parent).map_err(|e| RepoCacheError::io(parent, e))?;
    let partial = parent.join(format!(
        ".partial-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    info!(url, path = %bare.display(), "repo cache: cloning");
    let cloned = async {
        git(
            None,
            [
                OsStr::new("clone"),
                OsStr::new("--bare"),
                OsStr::new("--quiet"),
                OsStr::new("--"),
                OsStr::new(url),
                partial.as_os_str(),
            ],
        )
        .await?;
        // A bare clone maps branches straight onto refs/heads; remote-tracking
        // refs leave refs/heads free for the agents' branches.
        git(
            Some(&partial),
            [
                "config",
                "remote.origin.fetch",
                "+refs/heads/*:refs/remotes/origin/*",
            ],
        )
        .await?;
        fetch(&partial).await?;
        std::fs::rename(&partial, bare).map_err(|e| RepoCacheError::io(bare, e))
    }
    .await;
    if cloned.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    cloned
}

async fn fetch(bare: &Path) -> Result<(), RepoCacheError> {
    git(Some(bare), ["fetch", "--quiet", "--prune", "origin"]).await?;
    // Follows a changed default branch; harmless when the remote has no HEAD.
    let _ = git(Some(bare), ["remote", "set-head", "origin", "--auto"]).await;
    Ok(())
}

fn is_bare_repo(path: &Path) -> bool {
    path.join("HEAD").is_file()
}

fn mark_used(bare: &Path) {
    let stamp = chrono::DateTime::<chrono::Utc>::from(SystemTime::now()).to_rfc3339();
    if let Err(error) = std::fs::write(bare.join(LAST_USED_FILE), stamp) {
        warn!(repo = %bare.display(), %error, "repo cache: could not record the last use");
    }
}

/// When `bare` was last checked out from, if recorded.
pub fn last_used(bare: &Path) -> Option<SystemTime> {
    let text = std::fs::read_to_string(bare.join(LAST_USED_FILE)).ok()?;
    let stamp = chrono::DateTime::parse_from_rfc3339(text.trim()).ok()?;
    Some(SystemTime::from(stamp))
}

/// Worktrees read `info/exclude` from the clone they belong to, so listing the
/// context files there once keeps them out of every task's `git status`.
fn exclude_context_files(bare: &Path) -> Result<(), RepoCacheError> {
    let info = bare.join("info");
    std::fs::create_dir_all(&info).map_err(|e| RepoCacheError::io(&info, e))?;
    let path = info.join("exclude");
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(RepoCacheError::io(&path, error)),
    };
    let present: Vec<&str> = existing.lines().map(str::trim).collect();
    let missing: Vec<&str> = CONTEXT_EXCLUDES
        .iter()
        .copied()
        .filter(|pattern| !present.contains(pattern))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# Written by the Multica daemon for its agents' context files\n");
    for pattern in missing {
        text.push_str(pattern);
        text.push('\n');
    }
    std::fs::write(&path, text).map_err(|e| RepoCacheError::io(&path, e))
}

/// Runs git and returns its stdout; a non-zero exit becomes an error with git's
/// stderr.
async fn git<I, S>(dir: Option<&Path>, args: I) -> Result<String, RepoCacheError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let (command_line, output) = run_git(dir, args).await?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message = stderr.trim();
    let message = if message.is_empty() {
        format!("exited with {}", output.status)
    } else {
        message.to_owned()
    };
    Err(RepoCacheError::Git {
        command: command_line,
        message,
    })
}

/// Runs a git query whose exit code is the answer.
async fn succeeds<I, S>(dir: Option<&Path>, args: I) -> Result<bool, RepoCacheError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Ok(run_git(dir, args).await?.1.status.success())
}

async fn run_git<I, S>(
    dir: Option<&Path>,
    args: I,
) -> Result<(String, std::process::Output), RepoCacheError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    let args: Vec<S> = args.into_iter().collect();
    command.args(&args);
    let command_line = std::iter::once("git".to_owned())
        .chain(
            args.iter()
                .map(|arg| arg.as_ref().to_string_lossy().into_owned()),
        )
        .collect::<Vec<_>>()
        .join(" ");
    command
        .env("GIT_TERMINAL_PROMPT", "0")
        // Never open an editor or a pager for anything.
        .env("GIT_EDITOR", "true")
        .env("GIT_PAGER", "cat")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().map_err(RepoCacheError::GitNotRunnable)?;
    match tokio::time::timeout(GIT_TIME_LIMIT, child.wait_with_output()).await {
        Ok(Ok(output)) => Ok((command_line, output)),
        Ok(Err(error)) => Err(RepoCacheError::Git {
            command: command_line,
            message: error.to_string(),
        }),
        Err(_) => Err(RepoCacheError::GitTimedOut {
            command: command_line,
        }),
    }
}

/// `host+owner+name.git` for a URL, one safe path component whatever the URL says.
pub fn bare_dir_name(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let (host, path) = split_host_and_path(url);
    let mut parts: Vec<String> = Vec::new();
    let host = host.trim().to_ascii_lowercase();
    if !host.is_empty() {
        parts.push(host);
    }
    parts.extend(
        path.split(['/', '\\'])
            .filter(|segment| !segment.is_empty() && *segment != "." && *segment != "..")
            .map(str::to_owned),
    );
    let mut name: String = parts
        .join("+")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !name.ends_with(".git") {
        name.push_str(".git");
    }
    if name.starts_with('.') {
        name.insert(0, '_');
    }
    // Keep well under the usual 255-byte file name limit.
    if name.len() > 200 {
        name = format!("{}.git", &name[name.len() - 196..]);
    }
    name
}

fn split_host_and_path(url: &str) -> (&str, &str) {
    if let Some((_, rest)) = url.split_once("://") {
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        return rest.split_once('/').unwrap_or((rest, ""));
    }
    // scp-like `git@host:owner/name.git`; a plain path has no host.
    let rest = url.split_once('@').map_or(url, |(_, r)| r);
    match rest.split_once(':') {
        Some((host, path)) if !host.contains('/') => (host, path),
        _ => ("", rest),
    }
}

/// The directory name a checkout gets: the repository's own name.
pub fn repo_dir_name(url: &str) -> String {
    let trimmed = url.trim().trim_end_matches('/');
    let last = trimmed.rsplit(['/', ':', '\\']).next().unwrap_or_default();
    let name = last.strip_suffix(".git").unwrap_or(last);
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if name.is_empty() || name.chars().all(|c| c == '.') {
        "repo".to_owned()
    } else {
        name
    }
}

/// An agent name as one branch path component: lower-case letters and digits,
/// dashes between words, at most 30 characters.
fn sanitize_branch_component(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_matches('-').to_owned();
    if out.len() > 30 {
        out.truncate(30);
        out = out.trim_end_matches('-').to_owned();
    }
    if out.is_empty() {
        "agent".to_owned()
    } else {
        out
    }
}

/// The first eight hex digits of a task id.
fn task_key(task_id: &str) -> String {
    let key: String = task_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    if key.is_empty() {
        "task".to_owned()
    } else {
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_are_one_safe_component() {
        assert_eq!(
            bare_dir_name("https://github.com/org/repo.git"),
            "github.com+org+repo.git"
        );
        assert_eq!(
            bare_dir_name("git@github.com:org/repo"),
            "github.com+org+repo.git"
        );
        assert_eq!(
            bare_dir_name("https://user:pw@GitHub.com:8443/org/repo/"),
            "github.com_8443+org+repo.git"
        );
        assert_eq!(bare_dir_name("/srv/git/app.git"), "srv+git+app.git");
        let hostile = bare_dir_name("../../etc/passwd");
        assert!(
            !hostile.contains('/') && !hostile.starts_with('.'),
            "{hostile}"
        );
        assert!(bare_dir_name(&"x/".repeat(300)).len() <= 204);
    }

    #[test]
    fn checkout_directories_are_named_after_the_repository() {
        assert_eq!(repo_dir_name("https://github.com/org/my-app.git"), "my-app");
        assert_eq!(repo_dir_name("git@host:org/tool"), "tool");
        assert_eq!(repo_dir_name("/srv/git/app.git/"), "app");
        assert_eq!(repo_dir_name(".."), "repo");
        assert_eq!(repo_dir_name(""), "repo");
    }

    #[test]
    fn branch_names_follow_agent_and_task() {
        assert_eq!(
            sanitize_branch_component("Claude Code (laptop)"),
            "claude-code-laptop"
        );
        assert_eq!(sanitize_branch_component("  ***  "), "agent");
        assert!(sanitize_branch_component(&"long name ".repeat(10)).len() <= 30);
        assert_eq!(task_key("3F2504E0-4F89-11D3-9A0C-0305E82C3301"), "3f2504e0");
        assert_eq!(task_key("--"), "task");
    }
}
