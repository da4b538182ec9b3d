//! Where agent CLIs are looked for when the engine was not started from the user's
//! terminal. An app launched from a GUI inherits a bare PATH, so CLIs installed by
//! nvm, fnm, volta, asdf, mise, bun, Homebrew or into `~/.local/bin` would be "not
//! found". The search path is, in order: the process PATH, the PATH of the user's
//! login shell (asked once per discovery, with a timeout), and the usual install
//! directories that exist. The login shell's other variables (proxies, API keys,
//! `NVM_DIR`…) are passed on to agents where the process lacks them.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tracing::{debug, warn};

/// How long the login shell may take to print its environment. Heavy rc files
/// take a second or two; one that waits for input must not stall discovery.
pub const LOGIN_SHELL_TIMEOUT: Duration = Duration::from_secs(10);

/// Marks where the environment starts in the shell's output: rc files may print
/// banners first.
const ENV_MARKER: &str = "__MULTICA_LOGIN_ENV__";

/// Variables of the login shell that are never passed on: they describe that
/// shell, not the user's setup.
const SHELL_OWN_VARIABLES: &[&str] = &["_", "SHLVL", "PWD", "OLDPWD", "PS1", "PS2", "TERM"];

/// How agents are found and what environment they get besides ours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// Directories searched for agent CLIs, and the PATH agents get (after the
    /// `multica` directory).
    pub search_path: Vec<PathBuf>,
    /// Variables of the login shell that the process does not have.
    pub shell_env: Vec<(String, String)>,
}

impl Discovery {
    /// The search path joined for `which` and for an agent's `PATH`; `None` when
    /// empty (then the process PATH is used).
    pub fn joined_path(&self) -> Option<OsString> {
        if self.search_path.is_empty() {
            return None;
        }
        std::env::join_paths(&self.search_path).ok()
    }
}

/// What discovery looks at; the process's own values in production, fakes in tests.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryInputs {
    pub process_path: Option<OsString>,
    /// The login shell to ask (`None`: do not ask).
    pub login_shell: Option<PathBuf>,
    pub home: Option<PathBuf>,
    /// Variables that move install directories (`NVM_DIR`, `VOLTA_HOME`…).
    pub vars: Vec<(String, String)>,
}

impl DiscoveryInputs {
    /// This process's PATH, `$SHELL` unless `MULTICA_LOGIN_SHELL=off` (or the
    /// shell `MULTICA_LOGIN_SHELL` names), its home and install-dir variables.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let login_shell = match var("MULTICA_LOGIN_SHELL").as_deref() {
            Some("off" | "0" | "false") => None,
            Some(shell) => Some(PathBuf::from(shell)),
            None if cfg!(unix) => var("SHELL").map(PathBuf::from),
            None => None,
        };
        let vars = INSTALL_DIR_VARIABLES
            .iter()
            .filter_map(|name| var(name).map(|value| ((*name).to_owned(), value)))
            .collect();
        Self {
            process_path: std::env::var_os("PATH"),
            login_shell,
            home: std::env::home_dir(),
            vars,
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

const INSTALL_DIR_VARIABLES: &[&str] = &[
    "NVM_DIR",
    "FNM_DIR",
    "VOLTA_HOME",
    "ASDF_DATA_DIR",
    "MISE_DATA_DIR",
    "BUN_INSTALL",
    "NPM_CONFIG_PREFIX",
    "HOMEBREW_PREFIX",
    "PNPM_HOME",
    "APPDATA",
    "LOCALAPPDATA",
    "XDG_DATA_HOME",
];

/// Builds the search path (and the shell's extra variables) from `inputs`.
pub async fn discover(inputs: &DiscoveryInputs) -> Discovery {
    let shell_env = match &inputs.login_shell {
        Some(shell) => match login_shell_environment(shell, LOGIN_SHELL_TIMEOUT).await {
            Ok(env) => env,
            Err(error) => {
                warn!(shell = %shell.display(), %error, "cannot read the login shell's environment; using the process PATH and known install directories");
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let shell_path = shell_env
        .iter()
        .find(|(key, _)| key == "PATH")
        .map(|(_, value)| OsString::from(value));

    let mut seen = BTreeSet::new();
    let mut search_path = Vec::new();
    let mut add = |dir: PathBuf| {
        if dir.as_os_str().is_empty() || !dir.is_dir() {
            return;
        }
        if seen.insert(dir.clone()) {
            search_path.push(dir);
        }
    };
    for path in [&inputs.process_path, &shell_path].into_iter().flatten() {
        std::env::split_paths(path).for_each(&mut add);
    }
    if let Some(home) = &inputs.home {
        known_install_dirs(home, inputs)
            .into_iter()
            .for_each(&mut add);
    }

    let process_has = |name: &str| std::env::var_os(name).is_some();
    let shell_env = shell_env
        .into_iter()
        .filter(|(key, _)| {
            key != "PATH" && !SHELL_OWN_VARIABLES.contains(&key.as_str()) && !process_has(key)
        })
        .collect();
    debug!(dirs = search_path.len(), "agent search path built");
    Discovery {
        search_path,
        shell_env,
    }
}

/// The usual places CLIs get installed to, newest Node version first for nvm.
/// Directories that do not exist are dropped later.
pub fn known_install_dirs(home: &Path, inputs: &DiscoveryInputs) -> Vec<PathBuf> {
    let from_var = |name: &str, default: PathBuf| inputs.var(name).map_or(default, PathBuf::from);
    let xdg_data = from_var("XDG_DATA_HOME", home.join(".local/share"));
    let mut dirs = vec![
        home.join(".local/bin"),
        home.join("bin"),
        from_var("NPM_CONFIG_PREFIX", home.join(".npm-global")).join("bin"),
        home.join(".npm/bin"),
        from_var("VOLTA_HOME", home.join(".volta")).join("bin"),
        from_var("BUN_INSTALL", home.join(".bun")).join("bin"),
        from_var("PNPM_HOME", xdg_data.join("pnpm")),
        from_var("ASDF_DATA_DIR", home.join(".asdf")).join("shims"),
        from_var("MISE_DATA_DIR", xdg_data.join("mise")).join("shims"),
        from_var("FNM_DIR", xdg_data.join("fnm")).join("aliases/default/bin"),
        home.join(".fnm/aliases/default/bin"),
        home.join(".cargo/bin"),
        home.join(".opencode/bin"),
        home.join(".claude/local"),
    ];
    let nvm = from_var("NVM_DIR", home.join(".nvm")).join("versions/node");
    dirs.extend(
        newest_first(&nvm)
            .into_iter()
            .map(|version| version.join("bin")),
    );
    if let Some(prefix) = inputs.var("HOMEBREW_PREFIX") {
        dirs.push(Path::new(prefix).join("bin"));
    }
    dirs.extend(
        [
            "/opt/homebrew/bin",
            "/home/linuxbrew/.linuxbrew/bin",
            "/usr/local/bin",
        ]
        .map(PathBuf::from),
    );
    if cfg!(windows) {
        if let Some(app_data) = inputs.var("APPDATA") {
            dirs.push(Path::new(app_data).join("npm"));
        }
        if let Some(local) = inputs.var("LOCALAPPDATA") {
            dirs.push(Path::new(local).join("Programs"));
            dirs.push(Path::new(local).join("Volta").join("bin"));
        }
    }
    dirs
}

/// `v20.11.0`, `v18.2.1`… sorted by version, newest first.
fn newest_first(versions_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(versions_dir) else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u64>, PathBuf)> = entries
        .flatten()
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let key = name
                .trim_start_matches('v')
                .split('.')
                .map(|part| part.parse().unwrap_or(0))
                .collect();
            (key, entry.path())
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, path)| path).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum LoginShellError {
    #[error("cannot start it: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("it did not answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("it printed no environment (exit status {0})")]
    NoEnvironment(String),
}

/// Asks `shell` (bash, zsh, fish, sh…) started as an interactive login shell for
/// its environment. Its stdin is closed and it runs in a process group of its
/// own, killed when the time is up.
pub async fn login_shell_environment(
    shell: &Path,
    timeout: Duration,
) -> Result<Vec<(String, String)>, LoginShellError> {
    let mut command = tokio::process::Command::new(shell);
    // `-i` too: nvm and friends are usually set up in the interactive rc file.
    command
        .args([
            "-l",
            "-i",
            "-c",
            &format!("printf '%s' {ENV_MARKER}; env -0"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let child = command.spawn().map_err(LoginShellError::Spawn)?;
    let pid = child.id();
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => return Err(LoginShellError::Spawn(error)),
        Err(_) => {
            #[cfg(unix)]
            if let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) {
                // The whole group: the shell may have started helpers.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            #[cfg(not(unix))]
            let _ = pid;
            return Err(LoginShellError::Timeout(timeout));
        }
    };
    let vars = parse_env_output(&output.stdout);
    if vars.is_empty() {
        return Err(LoginShellError::NoEnvironment(output.status.to_string()));
    }
    Ok(vars)
}

/// `NAME=value\0…` after the marker; anything before it (banners) is ignored.
fn parse_env_output(stdout: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(stdout);
    let Some(start) = text.find(ENV_MARKER) else {
        return Vec::new();
    };
    text[start + ENV_MARKER.len()..]
        .split('\0')
        .filter_map(|entry| {
            let (key, value) = entry.split_once('=')?;
            let valid =
                !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            valid.then(|| (key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// Version managers whose shims pick a CLI per directory: the shim is resolved
/// to the real executable with the manager's `which`, so `--version` and every
/// run use one known binary, not whatever the shim picks in the task's work dir
/// (or its complaint that no version is set there).
const SHIM_MANAGERS: &[(&str, &str)] = &[
    ("asdf", ".asdf/shims"),
    ("mise", "mise/shims"),
    ("volta", ".volta/bin"),
];

/// The real executable behind a version manager's shim, when `path` is one.
pub async fn resolve_shim(path: &Path, search_path: Option<&OsString>) -> Option<PathBuf> {
    let text = path.to_string_lossy().replace('\\', "/");
    let (manager, _) = SHIM_MANAGERS.iter().find(|(_, dir)| {
        Path::new(&text)
            .parent()
            .is_some_and(|parent| parent.to_string_lossy().ends_with(dir))
    })?;
    let name = path.file_stem()?.to_string_lossy().into_owned();
    let cwd = std::env::current_dir().ok()?;
    let manager_path = match search_path {
        Some(paths) => which::which_in(manager, Some(paths), cwd).ok()?,
        None => which::which(manager).ok()?,
    };
    let mut command = tokio::process::Command::new(manager_path);
    command
        .args(["which", &name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(10), command.output())
        .await
        .ok()?
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let real = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    (real.is_file() && real != path).then_some(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_output_after_the_marker() {
        let out = format!(
            "Welcome!\n{ENV_MARKER}PATH=/a:/b\0HTTPS_PROXY=http://p:3128\0MULTI=line\nvalue\0bad key=x\0=y\0"
        );
        assert_eq!(
            parse_env_output(out.as_bytes()),
            vec![
                ("PATH".to_owned(), "/a:/b".to_owned()),
                ("HTTPS_PROXY".to_owned(), "http://p:3128".to_owned()),
                ("MULTI".to_owned(), "line\nvalue".to_owned()),
            ]
        );
        assert!(parse_env_output(b"PATH=/x\0").is_empty());
    }

    #[test]
    fn nvm_versions_newest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        for version in ["v18.20.1", "v20.9.0", "v20.11.1", "v9.0.0"] {
            std::fs::create_dir_all(dir.path().join(version)).expect("mkdir");
        }
        let names: Vec<String> = newest_first(dir.path())
            .iter()
            .map(|path| {
                path.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["v20.11.1", "v20.9.0", "v18.20.1", "v9.0.0"]);
    }
}
