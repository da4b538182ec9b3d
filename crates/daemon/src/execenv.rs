//! Per-task work directories: `<root>/<workspace>/<task8>/{workdir,output,logs}`,
//! with the context files and skills the agent reads.
//!
//! Names that come from the server (workspace and task ids, skill names and skill
//! file paths) become path components only after validation: a server, or anyone
//! who can write a skill, must not be able to make the daemon write outside the task.

use std::fs;
use std::path::{Component, Path, PathBuf};

use multica_agents::{Protocol, Provider};

use crate::brief::render_brief;
pub use crate::brief::{RepoInfo, SkillFileSpec, SkillSpec, TaskContext};

/// Longest id or name accepted as one path component.
const MAX_COMPONENT_LEN: usize = 128;

/// A prepared task directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEnvironment {
    /// `<root>/<workspace>/<task8>`
    pub root: PathBuf,
    /// Where the agent runs.
    pub work_dir: PathBuf,
    /// Whether `work_dir` is the prior run's, kept for the same agent and issue.
    pub reused: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecEnvError {
    #[error("refusing {what} {value:?} from the server: {reason}")]
    UnsafeName {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("cannot prepare the task directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ExecEnvError + '_ {
    move |source| ExecEnvError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Checks that an id from the server is one plain path component.
pub fn validate_id(what: &'static str, value: &str) -> Result<(), ExecEnvError> {
    let unsafe_name = |reason| ExecEnvError::UnsafeName {
        what,
        value: value.chars().take(200).collect(),
        reason,
    };
    if value.is_empty() {
        return Err(unsafe_name("it is empty"));
    }
    if value.len() > MAX_COMPONENT_LEN {
        return Err(unsafe_name("it is too long"));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(unsafe_name("only letters, digits, '-' and '_' are allowed"));
    }
    Ok(())
}

/// The directory name of a task: the first eight characters of its id, as the Go
/// daemon names them.
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Prepares the task's directory, reusing `prior_work_dir` when it is a work dir of
/// this workspace that still exists. Blocking: call from `spawn_blocking`.
pub fn prepare(
    workspaces_root: &Path,
    workspace_id: &str,
    task_id: &str,
    provider: &Provider,
    context: &TaskContext,
    prior_work_dir: Option<&Path>,
) -> Result<TaskEnvironment, ExecEnvError> {
    validate_id("workspace id", workspace_id)?;
    validate_id("task id", task_id)?;
    // Everything the server named is checked before anything is written, so a
    // refused task leaves no trace on disk.
    for skill in &context.skills {
        for file in &skill.files {
            validate_skill_file_path(&file.path)?;
        }
    }
    let workspace_dir = workspaces_root.join(workspace_id);

    let reusable = prior_work_dir.filter(|dir| is_reusable_work_dir(&workspace_dir, dir));
    let environment = match reusable {
        Some(work_dir) => TaskEnvironment {
            root: work_dir.parent().unwrap_or(work_dir).to_owned(),
            work_dir: work_dir.to_owned(),
            reused: true,
        },
        None => {
            let root = workspace_dir.join(short_id(task_id));
            if root.exists() {
                // A leftover of a run of the same task (the daemon died mid-task).
                fs::remove_dir_all(&root).map_err(io_error(&root))?;
            }
            let work_dir = root.join("workdir");
            for dir in [&work_dir, &root.join("output"), &root.join("logs")] {
                fs::create_dir_all(dir).map_err(io_error(dir))?;
            }
            TaskEnvironment {
                root,
                work_dir,
                reused: false,
            }
        }
    };

    write_context_files(&environment.work_dir, provider, context)?;
    Ok(environment)
}

/// A prior work dir is reused only if it is `<workspace_dir>/<task8>/workdir` and
/// exists: the path comes from the server and must not point elsewhere.
fn is_reusable_work_dir(workspace_dir: &Path, candidate: &Path) -> bool {
    let (Ok(workspace_dir), Ok(candidate)) =
        (workspace_dir.canonicalize(), candidate.canonicalize())
    else {
        return false;
    };
    candidate.file_name().is_some_and(|name| name == "workdir")
        && candidate
            .parent()
            .and_then(Path::parent)
            .is_some_and(|parent| parent == workspace_dir)
}

fn write_context_files(
    work_dir: &Path,
    provider: &Provider,
    context: &TaskContext,
) -> Result<(), ExecEnvError> {
    let context_dir = work_dir.join(".agent_context");
    fs::create_dir_all(&context_dir).map_err(io_error(&context_dir))?;
    let issue_context = context_dir.join("issue_context.md");
    fs::write(&issue_context, render_issue_context(context)).map_err(io_error(&issue_context))?;

    let brief_path = work_dir.join(brief_file_name(provider));
    let undiscovered_skills = (provider.profile().skills_dir.is_none()
        && *provider.protocol() != Protocol::CodexAppServer)
        .then_some(FALLBACK_SKILLS_DIR);
    // The file may be the repository's own (a reused checkout): the brief goes in
    // its marked block and the rest of the file stays the user's.
    let existing = match fs::read_to_string(&brief_path) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(io_error(&brief_path)(error)),
    };
    let merged = with_runtime_block(
        existing.as_deref(),
        &render_brief(context, undiscovered_skills),
    );
    fs::write(&brief_path, merged).map_err(io_error(&brief_path))?;

    if !context.skills.is_empty() {
        write_skills(&skills_dir(work_dir, provider), &context.skills)?;
    }
    Ok(())
}

const BLOCK_BEGIN: &str = "<!-- BEGIN MULTICA-RUNTIME (auto-managed; do not edit) -->";
const BLOCK_END: &str = "<!-- END MULTICA-RUNTIME -->";

/// `existing` (the instruction file as it is, if any) with the brief in its
/// marked block, as upstream's daemon writes it: the block alone for a new
/// file, appended after a blank line to a file without one, or replacing the
/// block in place (to the end of the file when its end marker is gone).
pub fn with_runtime_block(existing: Option<&str>, brief: &str) -> String {
    let block = format!(
        "{BLOCK_BEGIN}\n{}\n{BLOCK_END}\n",
        brief.trim_end_matches('\n')
    );
    let Some(existing) = existing else {
        return block;
    };
    let Some(start) = existing.find(BLOCK_BEGIN) else {
        return format!("{existing}\n\n{block}");
    };
    let end = existing[start..]
        .find(BLOCK_END)
        .map_or(existing.len(), |offset| {
            let after = start + offset + BLOCK_END.len();
            after + usize::from(existing[after..].starts_with('\n'))
        });
    format!("{}{block}{}", &existing[..start], &existing[end..])
}

/// The file each CLI reads its project instructions from.
pub fn brief_file_name(provider: &Provider) -> &str {
    &provider.profile().brief_file
}

/// The per-task `CODEX_HOME`, beside the work dir: `<task root>/codex-home`.
pub fn codex_home_of(work_dir: &Path) -> PathBuf {
    work_dir.parent().unwrap_or(work_dir).join(CODEX_HOME_DIR)
}

const CODEX_HOME_DIR: &str = "codex-home";

/// Files of the user's Codex home shared with every task by a symlink (a login
/// refreshed by one task is seen by all), and files copied (a task may change its
/// copy without touching the user's).
const CODEX_LINKED_FILES: &[&str] = &["auth.json"];
const CODEX_COPIED_FILES: &[&str] = &["config.toml", "config.json", "instructions.md", "AGENTS.md"];

/// Seeds the task's own `CODEX_HOME` from the user's (`user_home`, normally
/// `$CODEX_HOME` or `~/.codex`): Codex keeps its sessions there, so a task's
/// threads stay with its directory and a later task of the same issue can resume
/// them. Returns the directory. Blocking.
pub fn prepare_codex_home(
    work_dir: &Path,
    user_home: Option<&Path>,
) -> Result<PathBuf, ExecEnvError> {
    let home = codex_home_of(work_dir);
    fs::create_dir_all(&home).map_err(io_error(&home))?;
    let Some(user_home) = user_home.filter(|dir| dir.is_dir()) else {
        return Ok(home);
    };
    for name in CODEX_LINKED_FILES {
        let source = user_home.join(name);
        let target = home.join(name);
        if !source.is_file() {
            continue;
        }
        if target.symlink_metadata().is_ok() {
            fs::remove_file(&target).map_err(io_error(&target))?;
        }
        link_or_copy(&source, &target)?;
    }
    for name in CODEX_COPIED_FILES {
        let source = user_home.join(name);
        if source.is_file() {
            let target = home.join(name);
            if target.is_symlink() {
                fs::remove_file(&target).map_err(io_error(&target))?;
            }
            fs::copy(&source, &target).map_err(io_error(&target))?;
        }
    }
    Ok(home)
}

#[cfg(unix)]
fn link_or_copy(source: &Path, target: &Path) -> Result<(), ExecEnvError> {
    std::os::unix::fs::symlink(source, target).map_err(io_error(target))
}

#[cfg(not(unix))]
fn link_or_copy(source: &Path, target: &Path) -> Result<(), ExecEnvError> {
    // Symlinks need privileges on Windows; a copy logs in just as well.
    fs::copy(source, target)
        .map(|_| ())
        .map_err(io_error(target))
}

/// Where skills go for CLIs that do not look for them anywhere in particular.
const FALLBACK_SKILLS_DIR: &str = ".agent_context/skills";

/// Where each CLI discovers skills by itself.
fn skills_dir(work_dir: &Path, provider: &Provider) -> PathBuf {
    if *provider.protocol() == Protocol::CodexAppServer {
        return codex_home_of(work_dir).join("skills");
    }
    match &provider.profile().skills_dir {
        Some(dir) => dir
            .split('/')
            .filter(|part| !part.is_empty())
            .fold(work_dir.to_owned(), |path, part| path.join(part)),
        None => work_dir.join(FALLBACK_SKILLS_DIR),
    }
}

fn render_issue_context(context: &TaskContext) -> String {
    let mut out = format!("# Task\n\n**Issue id:** {}\n\n", context.issue_id);
    match &context.trigger_comment_id {
        Some(comment) => {
            out.push_str(&format!(
                "**Started by:** a comment\n**Comment id:** `{comment}`\n\n"
            ));
        }
        None => out.push_str("**Started by:** assignment\n\n"),
    }
    out.push_str(&format!(
        "## First step\n\nRun `multica issue get {} --output json` for the full issue.\n",
        context.issue_id
    ));
    if !context.skills.is_empty() {
        out.push_str("\n## Skills\n\n");
        for skill in &context.skills {
            out.push_str(&format!("- **{}**\n", skill.name));
        }
    }
    out
}

/// Lower-case, runs of anything but `[a-z0-9]` become `-`, as the Go daemon does, so
/// that skill folders keep their names across both daemons.
pub fn skill_dir_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out
        .trim_matches('-')
        .chars()
        .take(MAX_COMPONENT_LEN)
        .collect();
    if trimmed.is_empty() {
        "skill".to_owned()
    } else {
        trimmed
    }
}

/// Checks a skill file path: relative, no `..`, no NUL, and not too long.
fn validate_skill_file_path(path: &str) -> Result<PathBuf, ExecEnvError> {
    let unsafe_path = |reason| ExecEnvError::UnsafeName {
        what: "skill file path",
        value: path.chars().take(200).collect(),
        reason,
    };
    if path.is_empty() {
        return Err(unsafe_path("it is empty"));
    }
    if path.contains('\0') {
        return Err(unsafe_path("it contains a NUL byte"));
    }
    if path.len() > 1024 {
        return Err(unsafe_path("it is too long"));
    }
    let relative = Path::new(path);
    let mut clean = PathBuf::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => {
                if part.len() > 255 {
                    return Err(unsafe_path("a component is too long"));
                }
                clean.push(part);
            }
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_path("it climbs out with '..'")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_path("it is absolute"));
            }
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(unsafe_path("it names no file"));
    }
    Ok(clean)
}

fn write_skills(skills_dir: &Path, skills: &[SkillSpec]) -> Result<(), ExecEnvError> {
    for skill in skills {
        let dir = skills_dir.join(skill_dir_name(&skill.name));
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let skill_md = dir.join("SKILL.md");
        fs::write(&skill_md, &skill.content).map_err(io_error(&skill_md))?;
        for file in &skill.files {
            let target = dir.join(validate_skill_file_path(&file.path)?);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(io_error(parent))?;
                // A symlinked folder inside the skill dir could still lead outside.
                let real_parent = parent.canonicalize().map_err(io_error(parent))?;
                let real_dir = dir.canonicalize().map_err(io_error(&dir))?;
                if !real_parent.starts_with(&real_dir) {
                    return Err(ExecEnvError::UnsafeName {
                        what: "skill file path",
                        value: file.path.clone(),
                        reason: "it leads outside the skill folder",
                    });
                }
            }
            if target.is_symlink() {
                fs::remove_file(&target).map_err(io_error(&target))?;
            }
            fs::write(&target, &file.content).map_err(io_error(&target))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brief_is_a_marked_block_that_keeps_the_users_own_instructions() {
        let new = with_runtime_block(None, "Brief one.\n\n");
        assert_eq!(new, format!("{BLOCK_BEGIN}\nBrief one.\n{BLOCK_END}\n"));
        let users = "# Our rules\nUse tabs.\n";
        let appended = with_runtime_block(Some(users), "Brief one.");
        assert_eq!(appended, format!("{users}\n\n{new}"));
        let replaced =
            with_runtime_block(Some(&format!("{appended}Trailing note.\n")), "Brief two.");
        assert_eq!(
            replaced,
            format!("{users}\n\n{BLOCK_BEGIN}\nBrief two.\n{BLOCK_END}\nTrailing note.\n")
        );
        assert_eq!(
            with_runtime_block(Some(&replaced), "Brief two."),
            replaced,
            "stable"
        );
        let torn = format!("{users}{BLOCK_BEGIN}\nold brief without its end");
        assert_eq!(
            with_runtime_block(Some(&torn), "Brief three."),
            format!("{users}{BLOCK_BEGIN}\nBrief three.\n{BLOCK_END}\n")
        );
        assert_eq!(
            with_runtime_block(Some(""), "B"),
            format!("\n\n{BLOCK_BEGIN}\nB\n{BLOCK_END}\n")
        );
    }

    fn context() -> TaskContext {
        TaskContext {
            issue_id: "issue-1".into(),
            trigger_comment_id: None,
            agent_name: "Ada".into(),
            agent_instructions: String::new(),
            skills: vec![SkillSpec {
                name: "Code Review!".into(),
                content: "# Review".into(),
                files: vec![SkillFileSpec {
                    path: "templates/checklist.md".into(),
                    content: "- [ ] tests".into(),
                }],
            }],
            repos: vec![],
        }
    }

    #[test]
    fn prepares_layout_context_brief_and_skills() {
        let root = tempfile::tempdir().expect("tempdir");
        let env = prepare(
            root.path(),
            "ws-1",
            "0123456789abcdef",
            &Provider::claude(),
            &context(),
            None,
        )
        .expect("prepare");
        assert_eq!(env.root, root.path().join("ws-1").join("01234567"));
        assert!(!env.reused);
        for dir in ["workdir", "output", "logs"] {
            assert!(env.root.join(dir).is_dir(), "{dir}");
        }
        let work = &env.work_dir;
        let issue_context =
            fs::read_to_string(work.join(".agent_context/issue_context.md")).expect("context");
        assert!(issue_context.contains("issue-1"));
        assert!(
            fs::read_to_string(work.join("CLAUDE.md"))
                .expect("brief")
                .contains("multica")
        );
        assert_eq!(
            fs::read_to_string(work.join(".claude/skills/code-review/SKILL.md")).expect("skill"),
            "# Review"
        );
        assert!(
            work.join(".claude/skills/code-review/templates/checklist.md")
                .is_file()
        );
    }

    #[test]
    fn reuses_a_prior_work_dir_of_the_same_workspace_only() {
        let root = tempfile::tempdir().expect("tempdir");
        let first = prepare(
            root.path(),
            "ws-1",
            "aaaaaaaa1",
            &Provider::claude(),
            &context(),
            None,
        )
        .expect("first");
        fs::write(first.work_dir.join("notes.txt"), "kept").expect("write");

        let second = prepare(
            root.path(),
            "ws-1",
            "bbbbbbbb2",
            &Provider::claude(),
            &context(),
            Some(&first.work_dir),
        )
        .expect("second");
        assert!(second.reused);
        assert_eq!(second.work_dir, first.work_dir);
        assert!(second.work_dir.join("notes.txt").is_file());

        let elsewhere = tempfile::tempdir().expect("tempdir");
        let outside = elsewhere.path().join("x").join("workdir");
        fs::create_dir_all(&outside).expect("mkdir");
        let third = prepare(
            root.path(),
            "ws-1",
            "cccccccc3",
            &Provider::claude(),
            &context(),
            Some(&outside),
        )
        .expect("third");
        assert!(
            !third.reused,
            "a work dir outside the workspace must not be reused"
        );
    }

    #[test]
    fn refuses_unsafe_names() {
        let root = tempfile::tempdir().expect("tempdir");
        for bad_workspace in ["../etc", "a/b", "", "x\0y"] {
            assert!(
                prepare(
                    root.path(),
                    bad_workspace,
                    "t1",
                    &Provider::claude(),
                    &context(),
                    None
                )
                .is_err(),
                "{bad_workspace:?}"
            );
        }
        let long = "a".repeat(300);
        for bad_path in [
            "../../escape",
            "/etc/passwd",
            "a/../../b",
            "x\0y",
            "",
            long.as_str(),
        ] {
            let mut context = context();
            context.skills[0].files[0].path = bad_path.into();
            let error = prepare(root.path(), "ws", "t2", &Provider::claude(), &context, None)
                .expect_err(bad_path);
            assert!(error.to_string().contains("skill file path"), "{error}");
        }
        for bad_task in ["../t", "t/../../x", &"t".repeat(300)] {
            assert!(
                prepare(
                    root.path(),
                    "ws",
                    bad_task,
                    &Provider::claude(),
                    &context(),
                    None
                )
                .is_err(),
                "{bad_task:?}"
            );
        }
        let written: Vec<_> = fs::read_dir(root.path()).expect("read").collect();
        assert!(
            written.is_empty(),
            "a refused task writes nothing: {written:?}"
        );
    }

    #[test]
    fn each_cli_gets_its_own_brief_file_and_skills_folder() {
        let root = tempfile::tempdir().expect("tempdir");
        let cases = [
            ("opencode", "AGENTS.md", ".opencode/skills", false),
            ("gemini", "GEMINI.md", ".agent_context/skills", true),
            ("qwen", "QWEN.md", ".agent_context/skills", true),
            ("cursor", "AGENTS.md", ".cursor/skills", false),
        ];
        for (index, (id, brief, skills, told_where)) in cases.into_iter().enumerate() {
            let provider = Provider::builtin(id).expect("built in");
            let environment = prepare(
                root.path(),
                "ws",
                &format!("task-{index}"),
                &provider,
                &context(),
                None,
            )
            .expect("prepared");
            let text = fs::read_to_string(environment.work_dir.join(brief)).expect(brief);
            assert!(
                environment
                    .work_dir
                    .join(skills)
                    .join("code-review")
                    .join("SKILL.md")
                    .is_file(),
                "{id}: skills in {skills}"
            );
            assert_eq!(
                text.contains(&format!("`{skills}/<name>/SKILL.md`")),
                told_where,
                "{id}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_planted_in_a_skill_folder_cannot_lead_outside() {
        let root = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("outside");
        // A first run leaves the skill folder; something plants a link in it.
        let first = prepare(
            root.path(),
            "ws",
            "t3",
            &Provider::claude(),
            &context(),
            None,
        )
        .expect("first run");
        let skill_dir = skills_dir(&first.work_dir, &Provider::claude()).join("code-review");
        std::os::unix::fs::symlink(outside.path(), skill_dir.join("docs")).expect("symlink");
        let mut context = context();
        context.skills[0].files[0].path = "docs/evil.md".into();
        let error = prepare(
            root.path(),
            "ws",
            "t4",
            &Provider::claude(),
            &context,
            Some(&first.work_dir),
        )
        .expect_err("refused");
        assert!(
            error.to_string().contains("outside the skill folder"),
            "{error}"
        );
        assert!(
            fs::read_dir(outside.path()).expect("read").next().is_none(),
            "nothing written through the link"
        );
    }

    #[cfg(unix)]
    #[test]
    fn codex_gets_its_own_home_seeded_from_the_users() {
        let root = tempfile::tempdir().expect("root");
        let user = tempfile::tempdir().expect("user codex home");
        fs::write(user.path().join("auth.json"), "{\"token\":\"t\"}").expect("write");
        fs::write(user.path().join("config.toml"), "model = \"o3\"\n").expect("write");
        fs::create_dir_all(user.path().join("sessions")).expect("mkdir");
        let mut context = context();
        context.skills = vec![SkillSpec {
            name: "Code Review".into(),
            content: "# review".into(),
            files: vec![],
        }];
        let env = prepare(
            root.path(),
            "ws",
            "codex123",
            &Provider::codex(),
            &context,
            None,
        )
        .expect("prepared");
        assert!(
            env.work_dir.join("AGENTS.md").is_file(),
            "Codex reads AGENTS.md"
        );
        assert!(!env.work_dir.join("CLAUDE.md").exists());
        let home = prepare_codex_home(&env.work_dir, Some(user.path())).expect("codex home");
        assert_eq!(home, env.root.join("codex-home"));
        assert!(home.join("auth.json").is_symlink(), "the login is shared");
        assert!(
            !home.join("config.toml").is_symlink(),
            "the config is a copy"
        );
        assert_eq!(
            fs::read_to_string(home.join("config.toml")).expect("read"),
            "model = \"o3\"\n"
        );
        assert!(
            !home.join("sessions").exists(),
            "the user's sessions stay theirs"
        );
        assert!(
            home.join("skills")
                .join("code-review")
                .join("SKILL.md")
                .is_file()
        );
        // Again (a reused directory): refreshed, not failed.
        prepare_codex_home(&env.work_dir, Some(user.path())).expect("again");
        // No user home: an empty one.
        let bare = prepare_codex_home(&env.work_dir, None).expect("without a user home");
        assert!(bare.is_dir());
    }

    #[test]
    fn skill_names_are_sanitized_like_the_go_daemon() {
        assert_eq!(skill_dir_name("Code Review!"), "code-review");
        assert_eq!(skill_dir_name("../../etc"), "etc");
        assert_eq!(skill_dir_name("  "), "skill");
    }
}
