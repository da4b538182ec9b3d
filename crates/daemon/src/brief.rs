//! The runtime brief: the `CLAUDE.md` / `AGENTS.md` that tells an agent where it is,
//! which `multica` commands it has, and how to work on its issue.

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoInfo {
    pub url: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillFileSpec {
    pub path: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillSpec {
    pub name: String,
    pub content: String,
    pub files: Vec<SkillFileSpec>,
}

/// What the agent is told about its task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskContext {
    pub issue_id: String,
    pub trigger_comment_id: Option<String>,
    pub agent_name: String,
    pub agent_instructions: String,
    pub skills: Vec<SkillSpec>,
    pub repos: Vec<RepoInfo>,
}

/// The task prompt. Short on purpose: the detail lives in the brief, which the
/// agent CLI loads by itself and which survives session resumes.
pub fn task_prompt(context: &TaskContext) -> String {
    let issue = &context.issue_id;
    match &context.trigger_comment_id {
        Some(comment) => format!(
            "You are a coding agent working on a Multica issue.\n\n\
             A new comment (id {comment}) on issue {issue} needs your attention.\n\
             Read it with `multica issue comment list {issue} --output json`, do what it asks, \
             and reply with `multica issue comment add {issue} --parent {comment} --content \"...\"`.\n"
        ),
        None => format!(
            "You are a coding agent working on a Multica issue.\n\n\
             Your assigned issue id is {issue}.\n\
             Start with `multica issue get {issue} --output json`, then complete the work \
             as described in your instructions file.\n"
        ),
    }
}

/// The brief's Markdown.
/// `skills_dir`: where the skills were written, relative to the work dir, when
/// the CLI does not discover them by itself (it is then told where to look).
pub fn render_brief(context: &TaskContext, skills_dir: Option<&str>) -> String {
    let issue = &context.issue_id;
    let mut out = String::new();
    // Writing into a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(out, "# Working as a Multica agent\n");
    let _ = writeln!(
        out,
        "You are **{}**, a coding agent on the Multica platform. Everything you do on the \
         platform goes through the `multica` command, which is already on your PATH \
         (its absolute path is in `$MULTICA_CLI`).\n",
        context.agent_name
    );

    if !context.agent_instructions.trim().is_empty() {
        let _ = writeln!(
            out,
            "## Your instructions\n\n{}\n",
            context.agent_instructions.trim()
        );
    }

    out.push_str(COMMANDS);

    if !context.repos.is_empty() {
        let _ = writeln!(out, "## Repositories\n");
        let _ = writeln!(
            out,
            "These repositories belong to the workspace. Check one out into your working \
             directory with `multica repo checkout <url>`: it creates a git worktree on a \
             branch of its own and prints its path.\n"
        );
        let _ = writeln!(out, "| URL | Description |\n|-----|-------------|");
        for repo in &context.repos {
            let description = if repo.description.trim().is_empty() {
                "—"
            } else {
                repo.description.trim()
            };
            let _ = writeln!(
                out,
                "| {} | {} |",
                repo.url,
                description.replace('|', "\\|")
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Workflow\n");
    match &context.trigger_comment_id {
        Some(comment) => {
            let _ = writeln!(
                out,
                "This task was started by **a comment**; your job is to answer it.\n\n\
                 1. `multica issue get {issue} --output json` for the issue itself.\n\
                 2. `multica issue comment list {issue} --output json` for the conversation \
                 (for long threads use `--limit 30` or `--since <RFC3339 time>`).\n\
                 3. Find comment `{comment}` and work out what it asks.\n\
                 4. If it asks for changes, make them first.\n\
                 5. Reply in the thread: `multica issue comment add {issue} --parent {comment} --content \"...\"`.\n\
                 6. Leave the issue status alone unless the comment asks you to change it.\n"
            );
        }
        None => {
            let checkout = if context.repos.is_empty() {
                "   a. Create a branch, make the change and commit it.\n"
            } else {
                "   a. `multica repo checkout <url>` the right repository and `cd` into it.\n\
                 \x20  b. Make the change and commit it.\n"
            };
            let _ = writeln!(
                out,
                "The issue was **assigned** to you; you own its status until you hand it back.\n\n\
                 1. `multica issue get {issue} --output json` to read the task.\n\
                 2. `multica issue status {issue} in_progress`.\n\
                 3. Read the comments for extra context: `multica issue comment list {issue} --output json`.\n\
                 4. For code changes:\n{checkout}\
                 \x20  c. Push the branch and open a pull request against the branch the repository uses.\n\
                 \x20  d. Post the link: `multica issue comment add {issue} --content \"PR: <url>\"`.\n\
                 5. For work without code (research, writing), post the result as a comment.\n\
                 6. When done: `multica issue status {issue} in_review`.\n\
                 7. If you are stuck: `multica issue status {issue} blocked` and a comment saying why.\n"
            );
        }
    }

    if !context.skills.is_empty() {
        let _ = writeln!(out, "## Skills\n");
        match skills_dir {
            None => {
                let _ = writeln!(
                    out,
                    "These skills are installed where your CLI discovers them by itself:\n"
                );
            }
            Some(dir) => {
                let _ = writeln!(
                    out,
                    "These skills are in `{dir}/<name>/SKILL.md`; read a skill's SKILL.md \
                     before work it applies to:\n"
                );
            }
        }
        for skill in &context.skills {
            let _ = writeln!(out, "- **{}**", skill.name);
        }
        out.push('\n');
    }

    out.push_str(CONVENTIONS);
    out
}

const COMMANDS: &str = "\
## Commands

Add `--output json` to every read command: it returns the server's objects with full ids.

Read:
- `multica issue get <id> --output json`: the issue (title, description, status, priority, assignee).
- `multica issue list [--status S] [--priority P] [--assignee A] [--limit N] --output json`: issues of the workspace.
- `multica issue comment list <issue> [--limit N] [--offset N] [--since <RFC3339>] --output json`: comments, with `id` and `parent_id` for threads.
- `multica issue runs <issue> --output json`: earlier runs on the issue, with their status and errors.
- `multica issue run-messages <task> [--since <seq>] --output json`: the transcript of one run.
- `multica workspace get --output json` and `multica workspace members --output json`.
- `multica agent list --output json`.
- `multica attachment download <id> [-o <dir>]`: saves an attachment and prints its path.

Write:
- `multica issue comment add <issue> --content \"...\" [--parent <comment>]` (or `--content-file F`, or the text on stdin).
- `multica issue status <id> <todo|in_progress|in_review|done|blocked>`.
- `multica issue update <id> [--title T] [--description D] [--priority P]`.

";

const CONVENTIONS: &str = "\
## Mentions

Mentions render as links and notify people:
- an issue: `[MUL-123](mention://issue/<issue-id>)`
- a member: `[@Name](mention://member/<user-id>)` (ids from `multica workspace members`)
- an agent: `[@Name](mention://agent/<agent-id>)` (ids from `multica agent list`)

## Attachments

Issues and comments can carry files. `multica attachment download <id>` saves one into the \
current directory (or `-o <dir>`) and prints where; read it from there.

## Use only the `multica` command for Multica

Issues, comments, attachments and every other platform resource need the authentication \
that only `multica` carries. Do not reach Multica URLs with curl, wget or any other HTTP \
client. If no `multica` command does what you need, say so in a comment instead of working \
around it.

## Writing comments

Say what came out, not every step that led there: \"Fixed the login redirect. PR: <url>\" \
beats a numbered diary of the session.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> TaskContext {
        TaskContext {
            issue_id: "issue-1".into(),
            trigger_comment_id: None,
            agent_name: "Ada".into(),
            agent_instructions: "Prefer small commits.".into(),
            skills: vec![SkillSpec {
                name: "Code Review".into(),
                content: "# Review".into(),
                files: vec![],
            }],
            repos: vec![RepoInfo {
                url: "https://example.com/app.git".into(),
                description: "the app".into(),
            }],
        }
    }

    #[test]
    fn assignment_brief_has_commands_workflow_repos_and_skills() {
        let brief = render_brief(&context(), None);
        for expected in [
            "You are **Ada**",
            "Prefer small commits.",
            "multica issue get issue-1 --output json",
            "multica issue status issue-1 in_progress",
            "multica repo checkout <url>",
            "| https://example.com/app.git | the app |",
            "- **Code Review**",
            "Do not reach Multica URLs",
        ] {
            assert!(
                brief.contains(expected),
                "missing {expected:?} in:\n{brief}"
            );
        }
    }

    #[test]
    fn comment_brief_replies_in_thread_and_keeps_status() {
        let mut context = context();
        context.trigger_comment_id = Some("c-9".into());
        let brief = render_brief(&context, None);
        assert!(brief.contains("--parent c-9"), "{brief}");
        assert!(brief.contains("Leave the issue status alone"), "{brief}");
        assert!(!brief.contains("in_progress`"), "{brief}");
        assert!(task_prompt(&context).contains("c-9"));
    }
}
