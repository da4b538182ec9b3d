//! `multica issue …`: what agents (and people) do with issues and their comments.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
// The statuses the server accepts, validated here too for a clear error.
use multica_api::wire::ISSUE_STATUSES as STATUSES;
use serde_json::{Map, Value, json};

use crate::GlobalOptions;
use crate::cells;
use crate::failure::Failure;
use crate::output::{self, OutputFormat};
use crate::session::Session;

#[derive(Debug, Args)]
pub(crate) struct IssueArgs {
    #[command(subcommand)]
    action: IssueAction,
}

#[derive(Debug, Subcommand)]
enum IssueAction {
    /// Show one issue, by UUID or key (`MUL-42`).
    Get {
        /// Issue UUID or key (`MUL-42`).
        id: String,
    },
    /// List the workspace's issues.
    List(ListArgs),
    /// Set an issue's status (backlog, todo, in_progress, in_review, done, blocked, cancelled).
    Status {
        /// Issue UUID or key (`MUL-42`).
        id: String,
        /// The new status.
        status: String,
    },
    /// Change an issue's fields; `""` clears description or due date.
    Update(UpdateArgs),
    /// Assign an issue to a member or an agent (an agent gets a new task), or unassign it.
    Assign(AssignArgs),
    /// Read and write an issue's comments.
    Comment(CommentArgs),
    /// The agent task runs of an issue, newest last.
    Runs {
        /// Issue UUID or key (`MUL-42`).
        id: String,
    },
    /// The transcript of one task run.
    RunMessages {
        /// The task run's id (from `multica issue runs`).
        task_id: String,
        /// Only messages after this sequence number.
        #[arg(long, default_value_t = 0)]
        since: u64,
    },
}

#[derive(Debug, Args)]
struct ListArgs {
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    priority: Option<String>,
    /// Assignee: a member's or agent's id, or (part of) their name.
    #[arg(long)]
    assignee: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[arg(long, default_value_t = 0)]
    offset: u32,
}

#[derive(Debug, Args)]
struct UpdateArgs {
    /// Issue UUID or key (`MUL-42`).
    id: String,
    #[arg(long)]
    title: Option<String>,
    /// New description (`\n`, `\t`, `\\` are decoded); `""` clears it.
    #[arg(long, conflicts_with_all = ["description_file", "description_stdin"])]
    description: Option<String>,
    /// Read the new description from a file, verbatim.
    #[arg(long, value_name = "FILE", conflicts_with = "description_stdin")]
    description_file: Option<PathBuf>,
    /// Read the new description from standard input, verbatim.
    #[arg(long)]
    description_stdin: bool,
    #[arg(long)]
    priority: Option<String>,
    /// Due date, `YYYY-MM-DD` or RFC 3339; `""` clears it.
    #[arg(long)]
    due_date: Option<String>,
    #[arg(long)]
    status: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["to", "to_id", "unassign"])))]
struct AssignArgs {
    /// Issue UUID or key (`MUL-42`).
    id: String,
    /// Assignee by name (a member or an agent of the workspace) or id.
    #[arg(long)]
    to: Option<String>,
    /// Assignee by id (a member's user id or an agent id).
    #[arg(long)]
    to_id: Option<String>,
    /// Remove the assignee.
    #[arg(long)]
    unassign: bool,
}

#[derive(Debug, Args)]
struct CommentArgs {
    #[command(subcommand)]
    action: CommentAction,
}

#[derive(Debug, Subcommand)]
enum CommentAction {
    /// List an issue's comments, oldest first.
    List {
        /// Issue UUID or key (`MUL-42`).
        issue_id: String,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        offset: Option<u32>,
        /// Only comments created after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
    },
    /// Add a comment. The text comes from --content, --content-file, or standard input.
    Add(AddCommentArgs),
}

#[derive(Debug, Args)]
struct AddCommentArgs {
    /// Issue UUID or key (`MUL-42`).
    issue_id: String,
    /// The comment (`\n`, `\t`, `\\` are decoded).
    #[arg(long, conflicts_with_all = ["content_file", "content_stdin"])]
    content: Option<String>,
    /// Read the comment from a file, verbatim (`-` for standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "content_stdin")]
    content_file: Option<PathBuf>,
    /// Read the comment from standard input, verbatim.
    #[arg(long)]
    content_stdin: bool,
    /// Reply under this comment.
    #[arg(long, value_name = "COMMENT_ID")]
    parent: Option<String>,
    /// Attach a file (repeat for several).
    #[arg(long = "attachment", visible_alias = "attach", value_name = "FILE")]
    attachments: Vec<PathBuf>,
}

pub(crate) async fn run(args: IssueArgs, globals: &GlobalOptions) -> Result<()> {
    let session = Session::in_workspace(globals).await?;
    let format = globals.output;
    match args.action {
        IssueAction::Get { id } => {
            let issue = session
                .client
                .get_issue(&id)
                .await
                .map_err(session.failure(&format!("issue {id}")))?;
            print_issue(&issue, format)
        }
        IssueAction::List(list) => list_issues(&session, list, format).await,
        IssueAction::Status { id, status } => {
            let status = valid_status(&status)?;
            let issue = update(&session, &id, json!({ "status": status })).await?;
            match format {
                OutputFormat::Json => output::json(&issue),
                OutputFormat::Table => {
                    output::line(&format!(
                        "{} is now {}",
                        cells::text(&issue, "identifier"),
                        cells::text(&issue, "status")
                    ));
                    Ok(())
                }
            }
        }
        IssueAction::Update(update_args) => {
            let id = update_args.id.clone();
            let patch = update_patch(update_args)?;
            let issue = update(&session, &id, Value::Object(patch)).await?;
            print_issue(&issue, format)
        }
        IssueAction::Assign(assign) => {
            let patch = assign_patch(&session, &assign).await?;
            let issue = update(&session, &assign.id, patch).await?;
            print_issue(&issue, format)
        }
        IssueAction::Comment(comment) => match comment.action {
            CommentAction::List {
                issue_id,
                limit,
                offset,
                since,
            } => {
                let page = multica_api::CommentPage {
                    limit,
                    offset,
                    since: since.as_deref(),
                };
                let comments = session
                    .client
                    .list_comments(&issue_id, &page)
                    .await
                    .map_err(session.failure(&format!("comments of issue {issue_id}")))?;
                print_comments(&comments, format)
            }
            CommentAction::Add(add) => add_comment(&session, add, format).await,
        },
        IssueAction::Runs { id } => {
            let runs = session
                .client
                .issue_task_runs(&id)
                .await
                .map_err(session.failure(&format!("issue {id}")))?;
            print_runs(&runs, format)
        }
        IssueAction::RunMessages { task_id, since } => {
            let messages = session
                .client
                .task_messages(&task_id, Some(since))
                .await
                .map_err(session.failure(&format!("task {task_id}")))?;
            print_messages(&messages, format)
        }
    }
}

fn valid_status(status: &str) -> Result<&str, Failure> {
    let status = status.trim();
    if STATUSES.contains(&status) {
        Ok(status)
    } else {
        Err(Failure::usage(format!(
            "unknown status {status:?}: use one of {}",
            STATUSES.join(", ")
        )))
    }
}

async fn update(session: &Session, id: &str, patch: Value) -> Result<Value> {
    Ok(session
        .client
        .update_issue(id, &patch)
        .await
        .map_err(session.failure(&format!("issue {id}")))?)
}

/// Only the fields given; `""` becomes an explicit `null` for the nullable ones,
/// which the server reads as "clear".
fn update_patch(args: UpdateArgs) -> Result<Map<String, Value>> {
    let mut patch = Map::new();
    if let Some(title) = args.title {
        if title.trim().is_empty() {
            return Err(Failure::usage("the title cannot be empty").into());
        }
        patch.insert("title".into(), Value::String(title));
    }
    let description = if let Some(text) = args.description {
        Some(decode_escapes(&text))
    } else if let Some(path) = args.description_file {
        Some(read_text_file(&path)?)
    } else if args.description_stdin {
        Some(read_stdin()?)
    } else {
        None
    };
    if let Some(description) = description {
        patch.insert("description".into(), nullable(description));
    }
    if let Some(priority) = args.priority {
        patch.insert("priority".into(), Value::String(priority.trim().to_owned()));
    }
    if let Some(status) = args.status {
        patch.insert(
            "status".into(),
            Value::String(valid_status(&status)?.to_owned()),
        );
    }
    if let Some(due) = args.due_date {
        patch.insert("due_date".into(), nullable(due_date(&due)?));
    }
    if patch.is_empty() {
        return Err(Failure::usage(
            "nothing to change: give --title, --description, --priority, --status or --due-date",
        )
        .into());
    }
    Ok(patch)
}

fn nullable(text: String) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    }
}

/// The server wants RFC 3339; a plain calendar day means its start, in UTC.
fn due_date(raw: &str) -> Result<String, Failure> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(String::new());
    }
    let is_day = raw.len() == 10
        && raw.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    if is_day {
        return Ok(format!("{raw}T00:00:00Z"));
    }
    if raw.len() >= 20 && raw.as_bytes().get(10) == Some(&b'T') {
        return Ok(raw.to_owned());
    }
    Err(Failure::usage(format!(
        "due date {raw:?}: use YYYY-MM-DD or RFC 3339 (2026-05-01T17:00:00Z)"
    )))
}

/// `--to` may be an id or a name: an id is used as it is, a name is looked up among
/// the workspace's members and agents, and must match exactly one.
async fn assign_patch(session: &Session, args: &AssignArgs) -> Result<Value> {
    if args.unassign {
        return Ok(json!({ "assignee_type": null, "assignee_id": null }));
    }
    let wanted = args
        .to_id
        .as_deref()
        .or(args.to.as_deref())
        .unwrap_or_default()
        .trim()
        .to_owned();
    let workspace = session.workspace_id();
    let members = session
        .client
        .workspace_members(&workspace)
        .await
        .map_err(session.failure("the workspace's members"))?;
    let agents = session
        .client
        .list_agents(false)
        .await
        .map_err(session.failure("the workspace's agents"))?;
    let mut candidates: Vec<(&str, String, String)> = Vec::new();
    for member in cells::items(&members, "members") {
        candidates.push((
            "member",
            cells::text(member, "user_id"),
            cells::text(member, "name"),
        ));
    }
    for agent in cells::items(&agents, "agents") {
        candidates.push((
            "agent",
            cells::text(agent, "id"),
            cells::text(agent, "name"),
        ));
    }
    if let Some((kind, id, _)) = candidates.iter().find(|(_, id, _)| *id == wanted) {
        return Ok(json!({ "assignee_type": kind, "assignee_id": id }));
    }
    if args.to_id.is_some() {
        return Err(Failure::new(
            crate::failure::FailureKind::NotFound,
            format!("no member or agent with id {wanted} in this workspace"),
        )
        .into());
    }
    let lowered = wanted.to_lowercase();
    let exact: Vec<_> = candidates
        .iter()
        .filter(|(_, _, name)| name.to_lowercase() == lowered)
        .collect();
    let matches: Vec<_> = if exact.is_empty() {
        candidates
            .iter()
            .filter(|(_, _, name)| name.to_lowercase().contains(&lowered))
            .collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [(kind, id, _)] => Ok(json!({ "assignee_type": kind, "assignee_id": id })),
        [] => Err(Failure::new(
            crate::failure::FailureKind::NotFound,
            format!(
                "no member or agent named {wanted:?}; see `multica workspace members` and \
                 `multica agent list`"
            ),
        )
        .into()),
        several => Err(Failure::usage(format!(
            "{wanted:?} matches {}: use --to-id",
            several
                .iter()
                .map(|(kind, id, name)| format!("{kind} {name} ({id})"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}

async fn list_issues(session: &Session, args: ListArgs, format: OutputFormat) -> Result<()> {
    let assignee_id = match args.assignee.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => {
            let patch = assign_patch(
                session,
                &AssignArgs {
                    id: String::new(),
                    to: Some(raw.to_owned()),
                    to_id: None,
                    unassign: false,
                },
            )
            .await?;
            Some(cells::text(&patch, "assignee_id"))
        }
    };
    if let Some(status) = &args.status {
        valid_status(status)?;
    }
    let answer = session
        .client
        .list_issues(&multica_api::IssueFilter {
            status: args.status.as_deref(),
            priority: args.priority.as_deref(),
            assignee_id: assignee_id.as_deref(),
            limit: Some(args.limit),
            offset: Some(args.offset),
        })
        .await
        .map_err(session.failure("the workspace's issues"))?;
    match format {
        OutputFormat::Json => output::json(&answer),
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = cells::items(&answer, "issues")
                .iter()
                .map(|issue| {
                    vec![
                        cells::text(issue, "identifier"),
                        cells::text(issue, "status"),
                        cells::text(issue, "priority"),
                        cells::actor(issue, "assignee"),
                        cells::text(issue, "due_date").chars().take(10).collect(),
                        cells::text(issue, "title"),
                    ]
                })
                .collect();
            output::table(
                &["ID", "STATUS", "PRIORITY", "ASSIGNEE", "DUE", "TITLE"],
                &rows,
            );
            Ok(())
        }
    }
}

fn print_issue(issue: &Value, format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json => output::json(issue),
        OutputFormat::Table => {
            let row = |label: &str, value: String| vec![label.to_owned(), value];
            output::table(
                &["FIELD", "VALUE"],
                &[
                    row("id", cells::text(issue, "identifier")),
                    row("uuid", cells::text(issue, "id")),
                    row("title", cells::text(issue, "title")),
                    row("status", cells::text(issue, "status")),
                    row("priority", cells::text(issue, "priority")),
                    row("assignee", cells::actor(issue, "assignee")),
                    row("creator", cells::actor(issue, "creator")),
                    row("due", cells::text(issue, "due_date")),
                    row("created", cells::when(issue, "created_at")),
                    row("updated", cells::when(issue, "updated_at")),
                ],
            );
            let description = cells::text(issue, "description");
            if !description.is_empty() {
                output::line("");
                output::line(&description);
            }
            Ok(())
        }
    }
}

async fn add_comment(session: &Session, args: AddCommentArgs, format: OutputFormat) -> Result<()> {
    let content = if let Some(text) = args.content {
        decode_escapes(&text)
    } else if let Some(path) = args.content_file {
        if path.as_os_str() == "-" {
            read_stdin()?
        } else {
            read_text_file(&path)?
        }
    } else if args.content_stdin || !std::io::stdin().is_terminal() {
        read_stdin()?
    } else {
        return Err(Failure::usage(
            "no comment text: give --content, --content-file FILE, or pipe it on standard input",
        )
        .into());
    };
    if content.trim().is_empty() {
        return Err(Failure::usage("the comment is empty").into());
    }
    let mut attachment_ids = Vec::new();
    // The upload form takes the issue's UUID, not its `KEY-N`.
    let issue_uuid = if args.attachments.is_empty() {
        String::new()
    } else {
        let issue = session
            .client
            .get_issue(&args.issue_id)
            .await
            .map_err(session.failure(&format!("issue {}", args.issue_id)))?;
        cells::text(&issue, "id")
    };
    for path in &args.attachments {
        let attachment = match session.client.upload_file(path, Some(&issue_uuid)).await {
            Ok(attachment) => attachment,
            Err(multica_api::UploadError::Api(error)) => {
                return Err(
                    session.failure(&format!("the upload of {}", path.display()))(error).into(),
                );
            }
            Err(other) => return Err(Failure::usage(other.to_string()).into()),
        };
        attachment_ids.push(Value::String(cells::text(&attachment, "id")));
    }
    let mut body = json!({ "content": content });
    if let Some(parent) = args.parent {
        body["parent_id"] = Value::String(parent);
    }
    if !attachment_ids.is_empty() {
        body["attachment_ids"] = Value::Array(attachment_ids);
    }
    let comment = session
        .client
        .add_comment(&args.issue_id, &body)
        .await
        .map_err(session.failure(&format!("issue {}", args.issue_id)))?;
    match format {
        OutputFormat::Json => output::json(&comment),
        OutputFormat::Table => {
            output::line(&format!(
                "Comment {} added to {}",
                cells::text(&comment, "id"),
                args.issue_id
            ));
            Ok(())
        }
    }
}

fn print_comments(comments: &Value, format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json => output::json(comments),
        OutputFormat::Table => {
            // Comments are prose: shown whole, one block each, never cut to a column.
            for comment in cells::items(comments, "comments") {
                let mut header = format!(
                    "── {} · {} · {}",
                    cells::when(comment, "created_at"),
                    cells::actor(comment, "author"),
                    cells::text(comment, "id")
                );
                let parent = cells::short_id(comment, "parent_id");
                if !parent.is_empty() {
                    header.push_str(&format!(" (reply to {parent})"));
                }
                output::line(&header);
                output::line(&cells::text(comment, "content"));
                output::line("");
            }
            Ok(())
        }
    }
}

fn print_runs(runs: &Value, format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json => output::json(runs),
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = cells::items(runs, "tasks")
                .iter()
                .map(|run| {
                    vec![
                        cells::text(run, "id"),
                        cells::text(run, "status"),
                        cells::short_id(run, "agent_id"),
                        cells::when(run, "created_at"),
                        cells::when(run, "completed_at"),
                        cells::text(run, "error"),
                    ]
                })
                .collect();
            output::table(
                &["TASK", "STATUS", "AGENT", "CREATED", "FINISHED", "ERROR"],
                &rows,
            );
            Ok(())
        }
    }
}

fn print_messages(messages: &Value, format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json => output::json(messages),
        OutputFormat::Table => {
            for message in cells::items(messages, "messages") {
                let tool = cells::text(message, "tool");
                let label = if tool.is_empty() {
                    cells::text(message, "type")
                } else {
                    format!("{} {tool}", cells::text(message, "type"))
                };
                let body = [
                    cells::text(message, "content"),
                    cells::text(message, "output"),
                    match message.get("input") {
                        Some(Value::Null) | None => String::new(),
                        Some(input) => input.to_string(),
                    },
                ]
                .into_iter()
                .find(|text| !text.is_empty())
                .unwrap_or_default();
                output::line(&format!(
                    "#{} [{label}] {body}",
                    cells::text(message, "seq")
                ));
            }
            Ok(())
        }
    }
}

/// The escapes agents write inside a one-line `--content "…"` (as the Go CLI
/// decodes them): `\n`, `\r`, `\t` and `\\`. Anything else stays as written.
fn decode_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn read_text_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    String::from_utf8(bytes)
        .map_err(|_| Failure::usage(format!("{} is not UTF-8 text", path.display())).into())
}

fn read_stdin() -> Result<String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .context("cannot read standard input")?;
    String::from_utf8(bytes).map_err(|_| Failure::usage("standard input is not UTF-8 text").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_decoded_like_the_go_cli() {
        assert_eq!(decode_escapes(r"a\nb\tc\\n"), "a\nb\tc\\n");
        assert_eq!(decode_escapes(r"C:\path\x"), r"C:\path\x");
        assert_eq!(decode_escapes("trailing\\"), "trailing\\");
    }

    #[test]
    fn due_dates_become_rfc3339_and_empty_clears() {
        assert_eq!(due_date("2026-05-01").expect("day"), "2026-05-01T00:00:00Z");
        assert_eq!(
            due_date("2026-05-01T17:00:00+02:00").expect("rfc3339"),
            "2026-05-01T17:00:00+02:00"
        );
        assert_eq!(due_date("").expect("clear"), "");
        assert!(due_date("tomorrow").is_err());
    }

    #[test]
    fn empty_update_is_a_usage_error_and_empty_description_clears() {
        let base = UpdateArgs {
            id: "MUL-1".into(),
            title: None,
            description: None,
            description_file: None,
            description_stdin: false,
            priority: None,
            due_date: None,
            status: None,
        };
        assert!(update_patch(base).is_err());
        let patch = update_patch(UpdateArgs {
            id: "MUL-1".into(),
            title: None,
            description: Some(String::new()),
            description_file: None,
            description_stdin: false,
            priority: Some("high".into()),
            due_date: Some(String::new()),
            status: Some("done".into()),
        })
        .expect("patch");
        assert_eq!(
            Value::Object(patch),
            json!({"description": null, "priority": "high", "due_date": null, "status": "done"})
        );
    }
}
