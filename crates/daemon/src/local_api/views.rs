//! What the local API shows: `/health`, `/usage`, the recent tasks, a task's
//! transcript and the live events; and `/shutdown`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use multica_api::wire::TaskMessage;
use tracing::info;

use super::auth::TheUser;
use super::{ApiState, LocalApiError};
use crate::health::HealthReport;
use crate::history::TaskSummary;
use crate::usage_book::{UsageReport, parse_since};

pub(super) async fn health(State(state): State<ApiState>) -> Json<HealthReport> {
    Json((state.health)())
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct UsageQuery {
    /// `YYYY-MM-DD`, or a number of days such as `7d`.
    since: Option<String>,
}

/// `GET /usage[?since=YYYY-MM-DD|Nd]`: what the window shows of token usage.
pub(super) async fn usage(
    State(state): State<ApiState>,
    Query(query): Query<UsageQuery>,
) -> Result<Json<UsageReport>, LocalApiError> {
    let since = query
        .since
        .as_deref()
        .map(parse_since)
        .transpose()
        .map_err(|error| LocalApiError::BadRequest(error.to_string()))?;
    Ok(Json(state.usage.report(since)))
}

/// `GET /tasks`: the recent tasks, newest first.
pub(super) async fn recent_tasks(State(state): State<ApiState>) -> Json<Vec<TaskSummary>> {
    Json(state.bus.history().recent())
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct TranscriptQuery {
    after: Option<u64>,
}

/// `GET /tasks/{id}/transcript[?after=<seq>]`: what the engine keeps of it. A
/// transcript can quote the user's code, so only the user may read it, not any
/// other account on the machine.
pub(super) async fn task_transcript(
    _user: TheUser,
    State(state): State<ApiState>,
    Path(task_id): Path<String>,
    Query(query): Query<TranscriptQuery>,
) -> Result<Json<Vec<TaskMessage>>, LocalApiError> {
    state
        .bus
        .history()
        .transcript(&task_id, query.after)
        .map(Json)
        .ok_or_else(|| LocalApiError::NotFound("task not found among the recent ones".into()))
}

/// `GET /events`: the engine's events as they happen, as server-sent events (one
/// JSON object per event, the shape hosts get from `EngineHandle::subscribe`),
/// so a window served to a browser needs no polling. Transcripts ride on it: only
/// the user may listen. A listener too slow to keep up gets
/// `{"type":"lagged","missed":n}` and should reload what it shows.
pub(super) async fn events(_user: TheUser, State(state): State<ApiState>) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;

    let receiver = state.bus.subscribe();
    let stream =
        futures::stream::unfold((receiver, state.stop), |(mut receiver, stop)| async move {
            let data = tokio::select! {
                () = stop.cancelled() => return None,
                received = receiver.recv() => match received {
                    Ok(event) => serde_json::to_string(&event).unwrap_or_else(|error| {
                        serde_json::json!({"type": "unreadable", "error": error.to_string()})
                            .to_string()
                    }),
                    Err(RecvError::Lagged(missed)) => {
                        serde_json::json!({"type": "lagged", "missed": missed}).to_string()
                    }
                    Err(RecvError::Closed) => return None,
                },
            };
            Some((
                Ok::<_, std::convert::Infallible>(Event::default().data(data)),
                (receiver, stop),
            ))
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

pub(super) async fn shutdown(
    _user: TheUser,
    State(state): State<ApiState>,
) -> Json<serde_json::Value> {
    info!("shutdown requested over the local API");
    state.shutdown.cancel();
    Json(serde_json::json!({"status": "stopping"}))
}
