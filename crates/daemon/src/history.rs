//! Recent tasks and their transcripts, kept in memory for the hosts: a window opened
//! after a task started still shows it whole. Fed from the engine's own events;
//! bounded: the last [`KEPT_TASKS`] tasks, transcripts of the last
//! [`KEPT_TRANSCRIPTS`] of them, each cut to its last [`TRANSCRIPT_BYTES`] (the
//! server keeps the whole transcript).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use multica_api::wire::TaskMessage;
use serde::Serialize;

use crate::events::{EngineEvent, TaskOutcome};

pub const KEPT_TASKS: usize = 200;
pub const KEPT_TRANSCRIPTS: usize = 20;
pub const TRANSCRIPT_BYTES: usize = 16 * 1024 * 1024;

/// A task as the hosts list it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskSummary {
    pub task_id: String,
    pub issue_id: String,
    pub workspace_id: String,
    pub runtime_id: String,
    pub provider: String,
    pub started_at_unix_ms: u64,
    pub finished_at_unix_ms: Option<u64>,
    /// The last progress line ("Launching Claude", "Finishing task").
    pub progress: String,
    /// `None` while it runs.
    pub outcome: Option<TaskOutcome>,
    /// Tokens the agent reported for the run, all models.
    pub total_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    pub messages: usize,
    /// Messages dropped from the front to keep memory bounded.
    pub messages_dropped: usize,
    /// Where the agent works, once the directory is ready.
    pub work_dir: Option<std::path::PathBuf>,
}

#[derive(Debug)]
struct Entry {
    summary: TaskSummary,
    transcript: VecDeque<TaskMessage>,
    bytes: usize,
}

fn message_bytes(message: &TaskMessage) -> usize {
    64 + message.content.len()
        + message.output.len()
        + message.tool.len()
        + message.input.as_ref().map_or(0, |input| {
            serde_json::to_string(input).map_or(0, |s| s.len())
        })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The engine's memory of recent tasks.
#[derive(Debug, Default)]
pub(crate) struct TaskHistory {
    entries: Mutex<VecDeque<Entry>>,
}

impl TaskHistory {
    /// Takes in what an event tells about a task.
    pub(crate) fn observe(&self, event: &EngineEvent) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        match event {
            EngineEvent::TaskClaimed {
                task_id,
                issue_id,
                workspace_id,
                runtime_id,
                provider,
            } => {
                entries.retain(|entry| entry.summary.task_id != *task_id);
                entries.push_back(Entry {
                    summary: TaskSummary {
                        task_id: task_id.clone(),
                        issue_id: issue_id.clone(),
                        workspace_id: workspace_id.clone(),
                        runtime_id: runtime_id.clone(),
                        provider: provider.clone(),
                        started_at_unix_ms: now_ms(),
                        finished_at_unix_ms: None,
                        progress: "claimed".to_owned(),
                        outcome: None,
                        total_tokens: None,
                        cost_usd: None,
                        messages: 0,
                        messages_dropped: 0,
                        work_dir: None,
                    },
                    transcript: VecDeque::new(),
                    bytes: 0,
                });
                while entries.len() > KEPT_TASKS {
                    entries.pop_front();
                }
                // Only the newest tasks keep their transcripts.
                let keep_from = entries.len().saturating_sub(KEPT_TRANSCRIPTS);
                for entry in entries.iter_mut().take(keep_from) {
                    if !entry.transcript.is_empty() {
                        entry.summary.messages_dropped += entry.transcript.len();
                        entry.transcript = VecDeque::new();
                        entry.bytes = 0;
                    }
                }
            }
            EngineEvent::TaskProgress {
                task_id, summary, ..
            } => {
                if let Some(entry) = find(&mut entries, task_id) {
                    entry.summary.progress.clone_from(summary);
                }
            }
            EngineEvent::TaskWorkDir { task_id, work_dir } => {
                if let Some(entry) = find(&mut entries, task_id) {
                    entry.summary.work_dir = Some(work_dir.clone());
                }
            }
            EngineEvent::TaskMessages { task_id, messages } => {
                if let Some(entry) = find(&mut entries, task_id) {
                    for message in messages {
                        entry.bytes += message_bytes(message);
                        entry.transcript.push_back(message.clone());
                        entry.summary.messages += 1;
                    }
                    while entry.bytes > TRANSCRIPT_BYTES {
                        let Some(dropped) = entry.transcript.pop_front() else {
                            break;
                        };
                        entry.bytes -= message_bytes(&dropped);
                        entry.summary.messages_dropped += 1;
                    }
                }
            }
            EngineEvent::TaskUsage { usage } => {
                if let Some(entry) = find(&mut entries, &usage.task_id) {
                    entry.summary.total_tokens = Some(usage.total_tokens());
                    entry.summary.cost_usd = usage.cost_usd();
                }
            }
            EngineEvent::TaskFinished { task_id, outcome } => {
                if let Some(entry) = find(&mut entries, task_id) {
                    entry.summary.outcome = Some(outcome.clone());
                    entry.summary.finished_at_unix_ms = Some(now_ms());
                }
            }
            _ => {}
        }
    }

    /// Newest first.
    pub(crate) fn recent(&self) -> Vec<TaskSummary> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        entries
            .iter()
            .rev()
            .map(|entry| entry.summary.clone())
            .collect()
    }

    /// The kept transcript after `after_seq` (all of it for `None`); `None` when
    /// the task is not known.
    pub(crate) fn transcript(
        &self,
        task_id: &str,
        after_seq: Option<u64>,
    ) -> Option<Vec<TaskMessage>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let entry = entries
            .iter()
            .find(|entry| entry.summary.task_id == task_id)?;
        Some(
            entry
                .transcript
                .iter()
                .filter(|message| after_seq.is_none_or(|after| message.seq > after))
                .cloned()
                .collect(),
        )
    }
}

fn find<'a>(entries: &'a mut VecDeque<Entry>, task_id: &str) -> Option<&'a mut Entry> {
    entries
        .iter_mut()
        .rev()
        .find(|entry| entry.summary.task_id == task_id)
}

#[cfg(test)]
mod tests {
    use multica_api::wire::TaskMessageKind;

    use super::*;

    fn claimed(id: &str) -> EngineEvent {
        EngineEvent::TaskClaimed {
            task_id: id.into(),
            issue_id: "issue".into(),
            workspace_id: "ws".into(),
            runtime_id: "rt".into(),
            provider: "claude".into(),
        }
    }

    fn text(seq: u64, content: String) -> TaskMessage {
        TaskMessage {
            seq,
            kind: TaskMessageKind::Text,
            tool: String::new(),
            content,
            input: None,
            output: String::new(),
        }
    }

    #[test]
    fn keeps_a_tasks_life_and_its_transcript() {
        let history = TaskHistory::default();
        history.observe(&claimed("t1"));
        history.observe(&EngineEvent::TaskMessages {
            task_id: "t1".into(),
            messages: vec![text(1, "a".into()), text(2, "b".into())],
        });
        history.observe(&EngineEvent::TaskFinished {
            task_id: "t1".into(),
            outcome: TaskOutcome::Cancelled,
        });
        let recent = history.recent();
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].outcome, Some(TaskOutcome::Cancelled));
        assert!(recent[0].finished_at_unix_ms.is_some());
        assert_eq!(recent[0].messages, 2);
        let after_first = history.transcript("t1", Some(1)).expect("known");
        assert_eq!(after_first.len(), 1);
        assert_eq!(after_first[0].content, "b");
        assert!(history.transcript("nope", None).is_none());
    }

    #[test]
    fn memory_stays_bounded() {
        let history = TaskHistory::default();
        history.observe(&claimed("big"));
        let line = "x".repeat(1024 * 1024);
        for seq in 0..40 {
            history.observe(&EngineEvent::TaskMessages {
                task_id: "big".into(),
                messages: vec![text(seq, line.clone())],
            });
        }
        let kept = history.transcript("big", None).expect("known");
        assert!(kept.len() < 40 && kept.len() >= 10, "{}", kept.len());
        assert_eq!(kept.last().map(|m| m.seq), Some(39), "the newest stay");
        assert_eq!(history.recent()[0].messages_dropped, 40 - kept.len());

        for n in 0..(KEPT_TASKS + 5) {
            history.observe(&claimed(&format!("t{n}")));
        }
        assert_eq!(history.recent().len(), KEPT_TASKS);
        assert_eq!(history.recent()[0].task_id, format!("t{}", KEPT_TASKS + 4));
    }
}
