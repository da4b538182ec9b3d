//! The task endpoints of `/api/daemon` (claim, pending, start, progress, complete,
//! fail, status, messages): happy path, and each documented error status and body
//! (contract A.2).

mod common;

use common::Env;
use multica_api::wire::{self, TaskStatus};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// claim and pending

#[tokio::test]
async fn claim_without_work_is_task_null() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    for runtime_id in [
        runtime.id.as_str(),
        "00000000-0000-4000-8000-000000000000",
        "junk",
    ] {
        let reply = env
            .post_raw(
                &format!("/api/daemon/runtimes/{runtime_id}/tasks/claim"),
                "",
            )
            .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.content_type, "application/json");
        assert_eq!(reply.body, "{\"task\":null}\n");
        let parsed: wire::ClaimResponse = reply.json();
        assert_eq!(parsed.task, None);
    }
}

#[tokio::test]
async fn claim_returns_the_seed_task_shape() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env
        .admin
        .create_agent(multica_dev_server::NewAgent {
            workspace_id: env.workspace.id.clone(),
            runtime_id: runtime.id.clone(),
            name: "Reviewer".into(),
            instructions: "Review <carefully> & kindly".into(),
            skills: vec![
                multica_dev_server::SkillSpec {
                    name: "review".into(),
                    content: "# Review".into(),
                    files: vec![multica_dev_server::SkillFileSpec {
                        path: "checklists/a.md".into(),
                        content: "- [ ] tests".into(),
                    }],
                },
                multica_dev_server::SkillSpec {
                    name: "plain".into(),
                    content: "no files".into(),
                    files: vec![],
                },
            ],
            ..multica_dev_server::NewAgent::default()
        })
        .expect("agent");
    let issue = env
        .admin
        .create_issue(multica_dev_server::NewIssue {
            workspace_id: env.workspace.id.clone(),
            title: "Fix login".into(),
            priority: Some("high".into()),
            assignee_agent_id: Some(agent.id.clone()),
            ..multica_dev_server::NewIssue::default()
        })
        .expect("issue");
    assert_eq!(issue.identifier, "MUL-1");

    let reply = env
        .post(
            &format!("/api/daemon/runtimes/{}/tasks/claim", runtime.id),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200);
    // Go escapes HTML characters.
    assert!(
        reply
            .body
            .contains(r"Review \u003ccarefully\u003e \u0026 kindly")
    );
    let task: Value = reply.value()["task"].clone();
    let keys: Vec<&str> = task
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "id",
        "agent_id",
        "runtime_id",
        "issue_id",
        "workspace_id",
        "status",
        "priority",
        "dispatched_at",
        "started_at",
        "completed_at",
        "result",
        "error",
        "agent",
        "repos",
        "created_at",
    ];
    expected.sort_unstable();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected, "no prior session, no trigger comment");
    assert_eq!(task["workspace_id"], env.workspace.id);
    assert_eq!(task["status"], "dispatched");
    assert_eq!(task["priority"], 3);
    assert_eq!(task["result"], Value::Null);
    assert_eq!(task["error"], Value::Null);
    assert_eq!(task["started_at"], Value::Null);
    assert_eq!(task["issue_id"], issue.id);
    assert_eq!(
        task["repos"],
        json!([{"url": "https://github.com/acme/app.git", "description": "the app"}])
    );
    assert_eq!(task["agent"]["name"], "Reviewer");
    assert_eq!(
        task["agent"]["skills"][0]["files"][0]["path"],
        "checklists/a.md"
    );
    assert!(
        task["agent"]["skills"][1].get("files").is_none(),
        "files omitempty"
    );
    let dispatched_at = task["dispatched_at"].as_str().expect("timestamp");
    assert_eq!(
        dispatched_at.len(),
        20,
        "RFC 3339 with seconds: {dispatched_at}"
    );
    assert!(dispatched_at.ends_with('Z'));

    let parsed: wire::ClaimResponse = reply.json();
    let parsed = parsed.task.expect("task");
    assert_eq!(parsed.status, TaskStatus::Dispatched);
    assert_eq!(parsed.agent.expect("agent").skills.len(), 2);
}

#[tokio::test]
async fn pending_lists_queued_and_dispatched_tasks_of_the_runtime() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let (_, first) = env.assigned("a", &agent);
    let (_, second) = env.assigned("b", &agent);
    env.claim(&runtime.id).await;
    let reply = env
        .get(&format!(
            "/api/daemon/runtimes/{}/tasks/pending",
            runtime.id
        ))
        .await;
    assert_eq!(reply.status, 200);
    let tasks: Vec<wire::AgentTask> = reply.json();
    let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, vec![first.as_str(), second.as_str()]);
    assert_eq!(tasks[0].status, TaskStatus::Dispatched);
    assert_eq!(tasks[0].workspace_id, "", "taskToResponse leaves it empty");
    let empty = env.get("/api/daemon/runtimes/junk/tasks/pending").await;
    assert_eq!(empty.body, "[]\n");
}

// ---------------------------------------------------------------------------
// start, progress, complete, fail, status

#[tokio::test]
async fn start_requires_a_dispatched_task() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let (_, task) = env.assigned("a", &agent);
    env.start(&task)
        .await
        .assert_error(400, "start task: no rows in result set");
    env.start("00000000-0000-4000-8000-000000000000")
        .await
        .assert_error(400, "start task: no rows in result set");
    env.claim(&runtime.id).await;
    let reply = env.start(&task).await;
    assert_eq!(reply.status, 200);
    let started: wire::AgentTask = reply.json();
    assert_eq!(started.status, TaskStatus::Running);
    assert_eq!(started.workspace_id, "");
    assert!(started.started_at.is_some());
    env.start(&task)
        .await
        .assert_error(400, "start task: no rows in result set");
}

#[tokio::test]
async fn progress_is_always_ok_and_recorded() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let (_, task) = env.assigned("a", &agent);
    env.post(
        &format!("/api/daemon/tasks/{task}/progress"),
        json!({"summary": "Launching claude", "step": 1, "total": 2}),
    )
    .await
    .assert_ok();
    env.post(
        "/api/daemon/tasks/unknown/progress",
        json!({"summary": "x", "step": -1, "total": 0}),
    )
    .await
    .assert_ok();
    env.post_raw(
        &format!("/api/daemon/tasks/{task}/progress"),
        "{\"step\": \"one\"}",
    )
    .await
    .assert_error(400, "invalid request body");
    let view = env.admin.task(&task).expect("task");
    assert_eq!(
        env.admin.state().progress.len(),
        2,
        "unknown tasks' reports are kept"
    );
    assert_eq!(env.admin.state().progress[1].task_id, "unknown");
    assert_eq!(view.progress.len(), 1);
    assert_eq!(view.progress[0].summary, "Launching claude");
    assert_eq!((view.progress[0].step, view.progress[0].total), (1, 2));
}

#[tokio::test]
async fn complete_only_from_running_and_stores_the_result() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let (issue, task) = env.assigned("a", &agent);
    let body = json!({"output": "All done <3", "branch_name": "agent/x", "session_id": "s-1", "work_dir": "/w/1"});
    env.complete(&task, body.clone())
        .await
        .assert_error(400, "complete task: no rows in result set");
    env.claim(&runtime.id).await;
    env.complete(&task, body.clone())
        .await
        .assert_error(400, "complete task: no rows in result set");
    env.start(&task).await;
    env.post_raw(&format!("/api/daemon/tasks/{task}/complete"), "{")
        .await
        .assert_error(400, "invalid request body");
    let reply = env.complete(&task, body.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let completed: wire::AgentTask = reply.json();
    assert_eq!(completed.status, TaskStatus::Completed);
    // `json.Marshal(TaskCompleteRequest)`: branch_name is not part of it.
    assert_eq!(
        completed.result,
        Some(
            json!({"output": "All done <3", "pr_url": "", "session_id": "s-1", "work_dir": "/w/1"})
        )
    );
    assert!(reply.body.contains(
        r#""result":{"output":"All done \u003c3","pr_url":"","session_id":"s-1","work_dir":"/w/1"}"#
    ));
    env.complete(&task, body)
        .await
        .assert_error(400, "complete task: no rows in result set");

    let view = env.admin.task(&task).expect("task");
    assert_eq!(view.session_id.as_deref(), Some("s-1"));
    assert_eq!(view.work_dir.as_deref(), Some("/w/1"));
    let comments = env.admin.issue(&issue).expect("issue").comments;
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].author_type, "agent");
    assert_eq!(comments[0].author_id, agent.id);
    assert_eq!(comments[0].kind, "comment");
    assert_eq!(comments[0].content, "All done <3");
    assert_eq!(env.status_of(&task).await, "completed");
}

#[tokio::test]
async fn fail_from_dispatched_or_running_posts_a_system_comment() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 2);
    let (issue, task) = env.assigned("a", &agent);
    env.fail(&task, "nope")
        .await
        .assert_error(400, "fail task: no rows in result set");
    env.claim(&runtime.id).await;
    let reply = env.fail(&task, "start task failed: boom").await;
    assert_eq!(reply.status, 200);
    let failed: wire::AgentTask = reply.json();
    assert_eq!(failed.status, TaskStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("start task failed: boom"));
    assert!(failed.completed_at.is_some());
    env.fail(&task, "again")
        .await
        .assert_error(400, "fail task: no rows in result set");
    let comments = env.admin.issue(&issue).expect("issue").comments;
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].kind, "system");
    assert_eq!(comments[0].content, "start task failed: boom");
    assert_eq!(comments[0].parent_id, None);

    // An empty error: stored as "" (not null), no comment.
    let (issue2, task2) = env.assigned("b", &agent);
    env.claim(&runtime.id).await;
    let reply = env.fail(&task2, "").await;
    assert!(reply.body.contains(r#""error":"""#), "{}", reply.body);
    assert!(env.admin.issue(&issue2).expect("issue").comments.is_empty());
}

#[tokio::test]
async fn status_of_unknown_task_is_404() {
    let env = Env::new().await;
    env.get("/api/daemon/tasks/00000000-0000-4000-8000-000000000000/status")
        .await
        .assert_error(404, "task not found");
    env.get("/api/daemon/tasks/garbage/status")
        .await
        .assert_error(404, "task not found");
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let (_, task) = env.assigned("a", &agent);
    let reply = env.get(&format!("/api/daemon/tasks/{task}/status")).await;
    assert_eq!(reply.body, "{\"status\":\"queued\"}\n");
    // pgtype accepts upper case and undashed forms.
    assert_eq!(env.status_of(&task.to_uppercase()).await, "queued");
    assert_eq!(env.status_of(&task.replace('-', "")).await, "queued");
}

// ---------------------------------------------------------------------------
// messages

#[tokio::test]
async fn messages_are_stored_in_arrival_order_and_listed_by_seq() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let (issue, task) = env.assigned("a", &agent);
    let path = format!("/api/daemon/tasks/{task}/messages");

    // Empty batches never look the task up.
    env.post(
        "/api/daemon/tasks/unknown/messages",
        json!({"messages": []}),
    )
    .await
    .assert_ok();
    env.post("/api/daemon/tasks/unknown/messages", json!({}))
        .await
        .assert_ok();
    env.post(
        "/api/daemon/tasks/00000000-0000-4000-8000-000000000000/messages",
        json!({"messages": [{"seq": 1, "type": "text", "content": "x"}]}),
    )
    .await
    .assert_error(404, "task not found");
    env.post_raw(
        &path,
        r#"{"messages":[{"seq":1,"type":"tool_use","input":[1]}]}"#,
    )
    .await
    .assert_error(400, "invalid request body");

    env.post(
        &path,
        json!({"messages": [
            {"seq": 2, "type": "tool_use", "tool": "Bash", "input": {"command": "ls", "timeout": 5.0, "z": 1, "a": true}},
            {"seq": 1, "type": "text", "content": "Looking around"},
        ]}),
    )
    .await
    .assert_ok();
    env.post(
        &path,
        json!({"messages": [
            {"seq": 2, "type": "tool_use", "tool": "Bash", "input": {"command": "ls"}},
            {"seq": 3, "type": "tool_result", "tool": "Bash", "output": "key sk-abcdefghijklmnopqrstuvwxyz"},
            {"seq": 4, "type": "custom_kind", "input": {}},
        ]}),
    )
    .await
    .assert_ok();

    let view = env.admin.task(&task).expect("task");
    let arrival: Vec<i32> = view.messages.iter().map(|m| m.seq).collect();
    assert_eq!(
        arrival,
        vec![2, 1, 2, 3, 4],
        "arrival order, duplicates kept"
    );
    assert_eq!(
        view.messages[3].output.as_deref(),
        Some("key [REDACTED API KEY]")
    );

    let reply = env.get(&path).await;
    assert_eq!(reply.status, 200);
    let listed: Vec<wire::StoredTaskMessage> = reply.json();
    let seqs: Vec<u64> = listed.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 2, 2, 3, 4]);
    assert_eq!(listed[0].issue_id, issue);
    assert_eq!(listed[0].task_id, task);
    assert_eq!(listed[0].content.as_deref(), Some("Looking around"));
    assert_eq!(listed[4].kind, "custom_kind");
    assert_eq!(listed[4].input, None, "an empty input map is omitted");
    // `map[string]any` re-encoded by Go: keys sorted, 5.0 printed as 5.
    let raw = reply.value();
    assert_eq!(
        raw[1]["input"].to_string(),
        r#"{"a":true,"command":"ls","timeout":5,"z":1}"#
    );
    assert!(raw[0].get("tool").is_none());
    assert!(raw[0].get("output").is_none());

    let since: Vec<wire::StoredTaskMessage> = env.get(&format!("{path}?since=2")).await.json();
    assert_eq!(since.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![3, 4]);
    let all: Vec<Value> = env.get(&format!("{path}?since=")).await.json();
    assert_eq!(all.len(), 5);
    env.get(&format!("{path}?since=abc"))
        .await
        .assert_error(400, "invalid since parameter");
    env.get(&format!("{path}?since=1.5"))
        .await
        .assert_error(400, "invalid since parameter");
    env.get("/api/daemon/tasks/unknown/messages?since=abc")
        .await
        .assert_error(404, "task not found");
}
