//! Real git repositories for the repo-cache tests: a "remote" (a local bare
//! repository reached by path, as a server would be) with a `main` branch.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// Runs git with a fixed identity, so tests pass without a global git config.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A bare "remote" repository with one commit on `main`, and a clone of it to
/// push further commits from.
pub(crate) struct Remote {
    pub(crate) dir: TempDir,
    pub(crate) bare: PathBuf,
    pub(crate) author: PathBuf,
}

impl Remote {
    pub(crate) fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("remote dir");
        let bare = dir.path().join(format!("{name}.git"));
        std::fs::create_dir_all(&bare).expect("mkdir");
        git(&bare, &["init", "--bare", "--quiet", "-b", "main"]);
        let author = dir.path().join("author");
        std::fs::create_dir_all(&author).expect("mkdir");
        git(&author, &["init", "--quiet", "-b", "main"]);
        git(
            &author,
            &["remote", "add", "origin", bare.to_str().expect("utf-8")],
        );
        let remote = Self { dir, bare, author };
        remote.commit("README.md", "hello\n", "first commit");
        remote
    }

    pub(crate) fn url(&self) -> String {
        self.bare.to_string_lossy().into_owned()
    }

    /// Commits `file` on the current branch and pushes it; returns the commit id.
    pub(crate) fn commit(&self, file: &str, content: &str, message: &str) -> String {
        std::fs::write(self.author.join(file), content).expect("write");
        git(&self.author, &["add", file]);
        git(&self.author, &["commit", "--quiet", "-m", message]);
        let branch = git(&self.author, &["branch", "--show-current"]);
        git(&self.author, &["push", "--quiet", "origin", &branch]);
        git(&self.author, &["rev-parse", "HEAD"])
    }
}
