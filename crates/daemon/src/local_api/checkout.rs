//! `POST /repo/checkout`, called by `multica repo checkout` inside an agent task:
//! the task's token decides the workspace, the checkout lands only inside the
//! task's own directory, and only repositories of that workspace are served.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tracing::warn;

use super::auth::TaskBearer;
use super::{ApiState, LocalApiError};
use crate::repo_cache::{CheckoutRequest, RepoCacheError, bare_dir_name};

/// `multica repo checkout`'s request.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CheckoutBody {
    url: String,
    workspace_id: String,
    workdir: String,
    #[serde(rename = "ref")]
    git_ref: String,
    agent_name: String,
    task_id: String,
    /// Clients that understand 503 + `Retry-After` set this; the others wait for
    /// the repository lock as long as it takes.
    retry_busy: bool,
}

/// How long a `retry_busy` checkout waits for another one of the same repository.
const BUSY_LOCK_WAIT: Duration = Duration::from_secs(10);

/// `POST /repo/checkout`: a worktree of a workspace repository inside the
/// calling task's directory.
pub(super) async fn repo_checkout(
    State(state): State<ApiState>,
    TaskBearer(grant): TaskBearer,
    body: Bytes,
) -> Result<Response, LocalApiError> {
    let bad = |message: &str| LocalApiError::BadRequest(message.to_owned());
    let request =
        serde_json::from_slice::<CheckoutBody>(&body).map_err(|_| bad("invalid JSON body"))?;
    if request.url.trim().is_empty() {
        return Err(bad("url is required"));
    }
    if request.workdir.trim().is_empty() {
        return Err(bad("workdir is required"));
    }
    // The token decides the task; the body may only repeat it.
    let foreign = |given: &str, own: &str| !given.is_empty() && given != own;
    if foreign(&request.task_id, &grant.task_id)
        || foreign(&request.workspace_id, &grant.workspace_id)
    {
        return Err(LocalApiError::Forbidden(
            "forbidden: the token belongs to another task",
        ));
    }
    let Some(work_dir) = inside(&grant.task_dir, Path::new(&request.workdir)) else {
        warn!(task_id = %grant.task_id, workdir = %request.workdir, "local API: checkout outside the task directory refused");
        return Err(LocalApiError::Forbidden(
            "forbidden: workdir is outside this task's directory",
        ));
    };
    let configured = state
        .registry
        .repo_urls()
        .remove(&grant.workspace_id)
        .unwrap_or_default();
    let wanted = bare_dir_name(&request.url);
    if !configured.iter().any(|url| bare_dir_name(url) == wanted) {
        let known = if configured.is_empty() {
            "it has none".to_owned()
        } else {
            configured.join(", ")
        };
        return Err(LocalApiError::NotFound(format!(
            "{} is not a repository of workspace {} ({known})",
            request.url.trim(),
            grant.workspace_id
        )));
    }
    let git_ref = Some(request.git_ref.as_str()).filter(|r| !r.trim().is_empty());
    let agent_name = if request.agent_name.trim().is_empty() {
        grant.agent_name.as_str()
    } else {
        request.agent_name.as_str()
    };
    let checkout = state
        .repo_cache
        .checkout(&CheckoutRequest {
            workspace_id: &grant.workspace_id,
            url: request.url.trim(),
            work_dir: &work_dir,
            agent_name,
            task_id: &grant.task_id,
            git_ref,
            lock_wait: request.retry_busy.then_some(BUSY_LOCK_WAIT),
        })
        .await;
    match checkout {
        Ok(checkout) => {
            let mut body = serde_json::json!({
                "path": checkout.path,
                "branch_name": checkout.branch_name,
            });
            if let Some(reason) = checkout.stale_because {
                body["warning"] = serde_json::Value::String(format!(
                    "the repository could not be fetched, so the checkout starts from the copy fetched earlier: {reason}"
                ));
            }
            Ok(Json(body).into_response())
        }
        Err(RepoCacheError::Busy { .. }) => Err(LocalApiError::RepoBusy),
        Err(error @ (RepoCacheError::UnknownRef { .. } | RepoCacheError::PathTaken { .. })) => {
            Err(LocalApiError::BadRequest(error.to_string()))
        }
        Err(error) => {
            warn!(task_id = %grant.task_id, url = %request.url, %error, "repo checkout failed");
            Err(LocalApiError::Internal(error.to_string()))
        }
    }
}

/// `candidate`, resolved, if it is `dir` or below it. Symlinks are resolved, so a
/// link inside the task directory cannot point the checkout elsewhere.
fn inside(dir: &Path, candidate: &Path) -> Option<PathBuf> {
    let dir = dir.canonicalize().ok()?;
    let candidate = candidate.canonicalize().ok()?;
    candidate.starts_with(&dir).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_inside_the_task_directory() {
        let root = tempfile::tempdir().expect("dir");
        let task = root.path().join("ws").join("task1");
        let work = task.join("workdir");
        std::fs::create_dir_all(&work).expect("mkdir");
        let other = root.path().join("ws").join("task2");
        std::fs::create_dir_all(&other).expect("mkdir");
        assert!(inside(&task, &work).is_some());
        assert!(inside(&task, &work.join("..").join("..").join("task2")).is_none());
        assert!(inside(&task, &other).is_none());
        assert!(inside(&task, Path::new("/")).is_none());
        assert!(inside(&task, &task.join("missing")).is_none());
        #[cfg(unix)]
        {
            let link = work.join("escape");
            std::os::unix::fs::symlink(&other, &link).expect("symlink");
            assert!(inside(&task, &link).is_none(), "a symlink out is refused");
        }
    }
}
