//! Everything an agent needs before it starts: its task directory (held against
//! the collector, reused from the prior run when the server says so), the context
//! files and skills, its own Codex home, its key to the local API, and the
//! environment that makes `multica` work inside it as this agent on this task.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use multica_agents::{Protocol, RunSpec};
use multica_api::wire::AgentTask;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{TaskError, TaskKit};
use crate::agent_detection::DetectedAgent;
use crate::brief::{RepoInfo, SkillFileSpec, SkillSpec, TaskContext, task_prompt};
use crate::execenv::{self, ExecEnvError, TaskEnvironment};
use crate::gc::{GcMeta, TaskDirHold};
use crate::grants::{GrantGuard, TaskGrant};
use crate::registry::RuntimeBinding;

/// A task ready to run. Dropping it marks the directory finished (for the
/// collector), releases it and revokes the agent's local API key: keep it until
/// the task is settled.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) environment: TaskEnvironment,
    pub(super) context: TaskContext,
    pub(super) env: Vec<(String, String)>,
    pub(super) local_api_grant: GrantGuard,
    /// The task's own temporary directory (`TMPDIR`), removed with it.
    _temp: tempfile::TempDir,
    _in_use: DirInUse,
}

impl Prepared {
    pub(super) fn run_spec(
        &self,
        kit: &TaskKit,
        task: &AgentTask,
        agent: &DetectedAgent,
    ) -> RunSpec {
        RunSpec {
            executable: agent.executable.clone(),
            cwd: self.environment.work_dir.clone(),
            prompt: task_prompt(&self.context),
            model: agent.model.clone(),
            resume_session_id: task.prior_session_id.clone().filter(|id| !id.is_empty()),
            env: self.env.clone(),
            timeout: kit.config.agent_timeout,
            // The watchdog (task/watch.rs) judges silence by the agent's events,
            // with a longer window while a tool runs.
            idle_timeout: None,
            kill_grace: multica_agents::KillGrace::default(),
        }
    }
}

pub(super) async fn prepare(
    kit: &TaskKit,
    task: &AgentTask,
    runtime: &RuntimeBinding,
    workspace_id: &str,
    agent_name: &str,
    slot: usize,
    stop: &CancellationToken,
) -> Result<Prepared, TaskError> {
    let context = task_context(task, agent_name);
    let (holds, prior_work_dir) = hold_task_dirs(kit, task, workspace_id, stop).await;
    let environment = {
        let (root, workspace_id, task_id) = (
            kit.config.workspaces_root.clone(),
            workspace_id.to_owned(),
            task.id.clone(),
        );
        let (provider, context) = (runtime.provider.clone(), context.clone());
        tokio::task::spawn_blocking(move || {
            execenv::prepare(
                &root,
                &workspace_id,
                &task_id,
                &provider,
                &context,
                prior_work_dir.as_deref(),
            )
        })
        .await
        .map_err(TaskError::PrepareJoin)??
    };
    info!(work_dir = %environment.work_dir.display(), reused = environment.reused, "environment ready");
    // Whatever way this task ends, its directory is marked for the collector and
    // released when this drops.
    let in_use = DirInUse {
        root: environment.root.clone(),
        meta: GcMeta::for_issue(workspace_id, &task.issue_id, &task.id, SystemTime::now()),
        _holds: holds,
    };
    if let Some(session) = &task.prior_session_id {
        info!(session_id = %session, "resuming the prior session");
    }
    // The agent's key to the local API, valid in its own task directory while
    // the task runs.
    let local_api_grant = kit.grants.issue(TaskGrant {
        task_id: task.id.clone(),
        workspace_id: workspace_id.to_owned(),
        agent_name: agent_name.to_owned(),
        task_dir: environment
            .work_dir
            .parent()
            .map_or_else(|| environment.root.clone(), Path::to_path_buf),
    });
    // The directory that holds the work dir (the prior run's when it is reused).
    let task_root = environment
        .work_dir
        .parent()
        .map_or_else(|| environment.root.clone(), Path::to_path_buf);
    let config_root = private_dir(&task_root.join(TASK_CONFIG_DIR))?;
    let temp = task_temp_dir(kit.config.task_temp_base.as_deref()).map_err(TaskError::TempDir)?;
    let mut env = task_env(kit, task, workspace_id, agent_name);
    let temp_path = temp.path().to_string_lossy().into_owned();
    env.extend([
        ("TMPDIR".to_owned(), temp_path.clone()),
        ("TMP".to_owned(), temp_path.clone()),
        ("TEMP".to_owned(), temp_path),
        ("MULTICA_TASK_SLOT".to_owned(), slot.to_string()),
        (
            "MULTICA_TASK_CONFIG_ROOT".to_owned(),
            config_root.to_string_lossy().into_owned(),
        ),
        (
            "MULTICA_TASK_WORKSPACES_ROOT".to_owned(),
            kit.config.workspaces_root.to_string_lossy().into_owned(),
        ),
    ]);
    if *runtime.provider.protocol() == Protocol::CodexAppServer {
        let codex_home = codex_home(kit, &environment.work_dir).await?;
        env.push(("CODEX_HOME".to_owned(), codex_home.display().to_string()));
    }
    env.push((
        "MULTICA_LOCAL_API_TOKEN".to_owned(),
        local_api_grant.token().expose().to_owned(),
    ));
    Ok(Prepared {
        environment,
        context,
        env,
        local_api_grant,
        _temp: temp,
        _in_use: in_use,
    })
}

/// The task's private `multica` profile root: the agent's `multica` reads and
/// writes its config there, never the owner's `~/.multica`.
const TASK_CONFIG_DIR: &str = "multica-config";

/// A directory only this user can enter.
fn private_dir(dir: &Path) -> Result<PathBuf, TaskError> {
    let io = |source| {
        TaskError::Prepare(ExecEnvError::Io {
            path: dir.to_owned(),
            source,
        })
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(dir.to_owned())
}

/// The task's own temporary directory (mode 0700: other users may share `/tmp`), under
/// `base`, else `/tmp` where it exists (short paths: sockets made there must fit
/// the 108-byte limit), else the system's temporary directory.
fn task_temp_dir(base: Option<&Path>) -> std::io::Result<tempfile::TempDir> {
    let base = match base {
        Some(base) if !base.is_absolute() => {
            return Err(std::io::Error::other(format!(
                "MULTICA_AGENT_TEMP_BASE must be an absolute path, got {}",
                base.display()
            )));
        }
        Some(base) => base.to_owned(),
        None if Path::new("/tmp").is_dir() => PathBuf::from("/tmp"),
        None => std::env::temp_dir(),
    };
    let dir = tempfile::Builder::new()
        .prefix("multica-task-")
        .tempdir_in(base)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// Each Codex task gets its own home, seeded from the user's.
async fn codex_home(kit: &TaskKit, work_dir: &Path) -> Result<PathBuf, TaskError> {
    let work_dir = work_dir.to_owned();
    let user_home = kit.config.codex_home.clone();
    tokio::task::spawn_blocking(move || {
        execenv::prepare_codex_home(&work_dir, user_home.as_deref())
    })
    .await
    .map_err(TaskError::CodexHomeJoin)?
    .map_err(TaskError::CodexHome)
}

fn task_context(task: &AgentTask, agent_name: &str) -> TaskContext {
    let (instructions, skills) = task.agent.as_ref().map_or_else(
        || (String::new(), Vec::new()),
        |agent| {
            let skills = agent
                .skills
                .iter()
                .map(|skill| SkillSpec {
                    name: skill.name.clone(),
                    content: skill.content.clone(),
                    files: skill
                        .files
                        .iter()
                        .map(|file| SkillFileSpec {
                            path: file.path.clone(),
                            content: file.content.clone(),
                        })
                        .collect(),
                })
                .collect();
            (agent.instructions.clone(), skills)
        },
    );
    TaskContext {
        issue_id: task.issue_id.clone(),
        trigger_comment_id: task.trigger_comment_id.clone().filter(|id| !id.is_empty()),
        agent_name: agent_name.to_owned(),
        agent_instructions: instructions,
        skills,
        repos: task
            .repos
            .iter()
            .map(|repo| RepoInfo {
                url: repo.url.clone(),
                description: repo.description.clone(),
            })
            .collect(),
    }
}

/// Holds this task's directory, and the prior run's if it is to be reused, so
/// the collector leaves them alone. A prior directory the collector is deleting
/// right now is not reused. Returns the holds and the prior work dir to reuse.
async fn hold_task_dirs(
    kit: &TaskKit,
    task: &AgentTask,
    workspace_id: &str,
    stop: &CancellationToken,
) -> (Vec<TaskDirHold>, Option<PathBuf>) {
    let workspace_dir = kit.config.workspaces_root.join(workspace_id);
    let mut holds = Vec::new();
    let prior = task
        .prior_work_dir
        .as_deref()
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from);
    // Held under the name the collector uses: <root>/<workspace>/<task dir>.
    let prior = prior.and_then(|work_dir| {
        let task_dir_name = work_dir.parent()?.file_name()?.to_owned();
        let hold = kit.task_dirs.try_hold(&workspace_dir.join(task_dir_name))?;
        holds.push(hold);
        Some(work_dir)
    });
    let own = workspace_dir.join(execenv::short_id(&task.id));
    if !holds.iter().any(|hold| hold.dir() == own) {
        // Only the collector holds a fresh task's directory, and only briefly.
        loop {
            if let Some(hold) = kit.task_dirs.try_hold(&own) {
                holds.push(hold);
                break;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }
    (holds, prior)
}

/// Marks a task directory as finished (for the collector) and releases it.
#[derive(Debug)]
struct DirInUse {
    root: PathBuf,
    meta: GcMeta,
    _holds: Vec<TaskDirHold>,
}

impl Drop for DirInUse {
    fn drop(&mut self) {
        self.meta.completed_at = chrono::Utc::now();
        if let Err(error) = self.meta.write(&self.root) {
            warn!(dir = %self.root.display(), %error, "could not record the task's end for clean-up");
        }
    }
}

/// The environment every agent gets, so that `multica` works inside it and acts
/// as this agent on this task.
fn task_env(
    kit: &TaskKit,
    task: &AgentTask,
    workspace_id: &str,
    agent_name: &str,
) -> Vec<(String, String)> {
    let cli = &kit.multica_cli;
    let discovery = kit.agents.discovery();
    // Our directory goes first so a stale `multica` elsewhere on PATH cannot win;
    // then where the agent CLIs were found (the login shell's PATH, install dirs).
    let mut path_entries = vec![cli.parent().map(PathBuf::from).unwrap_or_default()];
    if discovery.search_path.is_empty() {
        if let Some(path) = std::env::var_os("PATH") {
            path_entries.extend(std::env::split_paths(&path));
        }
    } else {
        path_entries.extend(discovery.search_path.iter().cloned());
    }
    let path = std::env::join_paths(path_entries)
        .map(|joined| joined.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The login shell's variables the process lacks (proxies, tool homes) come
    // first: everything below is ours and wins over them.
    let mut env = discovery.shell_env.clone();
    env.extend([
        // Current servers mint a token for the task alone (`mat_…`, revoked when
        // the task ends, bound to its agent and workspace); the user's own token
        // goes to agents only when the server has none.
        (
            "MULTICA_TOKEN".to_owned(),
            task.task_token()
                .unwrap_or_else(|| kit.server.token.expose())
                .to_owned(),
        ),
        (
            "MULTICA_SERVER_URL".to_owned(),
            kit.config.server_url.to_string(),
        ),
        (
            "MULTICA_DAEMON_PORT".to_owned(),
            kit.config.health_port.to_string(),
        ),
        ("MULTICA_WORKSPACE_ID".to_owned(), workspace_id.to_owned()),
        ("MULTICA_AGENT_NAME".to_owned(), agent_name.to_owned()),
        ("MULTICA_AGENT_ID".to_owned(), task.agent_id.clone()),
        ("MULTICA_TASK_ID".to_owned(), task.id.clone()),
        ("MULTICA_CLI".to_owned(), cli.to_string_lossy().into_owned()),
        ("PATH".to_owned(), path),
    ]);
    env
}
