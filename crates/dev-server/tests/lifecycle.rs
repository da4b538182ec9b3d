//! The task state machine end to end over HTTP (contract A.2.4, A.3, A.4).

mod common;

use std::time::Duration;

use common::{Env, WAIT};
use multica_api::wire::TaskStatus;
use multica_dev_server::{AgentPatch, DevServerConfig, NewComment};
use serde_json::{Value, json};

#[tokio::test]
async fn full_lifecycle_in_order() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let (issue, task_id) = env.assigned("Fix the bug", &agent);
    assert_eq!(env.status_of(&task_id).await, "queued");

    let task = env.claim(&runtime.id).await;
    assert_eq!(task["id"], task_id);
    assert_eq!(env.claim(&runtime.id).await, Value::Null, "one at a time");
    assert_eq!(env.admin.agents()[0].status, "working");

    assert_eq!(env.start(&task_id).await.status, 200);
    env.post(
        &format!("/api/daemon/tasks/{task_id}/progress"),
        json!({"summary": "Launching claude", "step": 1, "total": 2}),
    )
    .await
    .assert_ok();
    env.post(
        &format!("/api/daemon/tasks/{task_id}/messages"),
        json!({"messages": [{"seq": 1, "type": "text", "content": "hi"}]}),
    )
    .await
    .assert_ok();
    env.post(
        &format!("/api/daemon/tasks/{task_id}/progress"),
        json!({"summary": "Finishing task", "step": 2, "total": 2}),
    )
    .await
    .assert_ok();
    assert_eq!(env.status_of(&task_id).await, "running");
    let done = env
        .complete(
            &task_id,
            json!({"output": "Fixed.", "session_id": "sess", "work_dir": "/w"}),
        )
        .await;
    assert_eq!(done.status, 200);

    let view = env.admin.task(&task_id).expect("task");
    assert_eq!(view.status, TaskStatus::Completed);
    assert!(
        view.dispatched_at.is_some() && view.started_at.is_some() && view.completed_at.is_some()
    );
    assert_eq!(view.messages.len(), 1);
    assert_eq!(view.progress.len(), 2);
    assert_eq!(view.workspace_id, env.workspace.id);
    assert_eq!(env.admin.agents()[0].status, "idle");
    assert_eq!(
        env.admin.issue(&issue).expect("issue").comments[0].content,
        "Fixed."
    );

    // The request log shows the daemon's order.
    let order: Vec<String> = env
        .admin
        .requests()
        .iter()
        .filter(|r| r.path.contains(&task_id))
        .map(|r| r.path.rsplit('/').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        order,
        vec![
            "status", "start", "progress", "messages", "progress", "status", "complete"
        ]
    );
    let complete = env
        .admin
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/complete"))
        .expect("logged");
    assert_eq!(complete.status, 200);
    assert_eq!(complete.body.expect("body")["session_id"], "sess");
}

#[tokio::test]
async fn complete_after_cancel_is_400_and_status_reads_cancelled() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let (_, task) = env.assigned("a", &agent);
    env.claim(&runtime.id).await;
    env.start(&task).await;
    let cancelled = env.admin.cancel_task(&task).expect("cancel");
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    assert!(cancelled.completed_at.is_some());
    assert_eq!(env.status_of(&task).await, "cancelled");
    env.complete(&task, json!({"output": "late"}))
        .await
        .assert_error(400, "complete task: no rows in result set");
    env.fail(&task, "late")
        .await
        .assert_error(400, "fail task: no rows in result set");
    assert!(
        env.admin.cancel_task(&task).is_err(),
        "cancel needs an active task"
    );
    assert_eq!(env.admin.agents()[0].status, "idle");
}

#[tokio::test]
async fn cancel_over_the_admin_http_api() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let (_, task) = env.assigned("a", &agent);
    let reply = env
        .send(
            reqwest::Method::POST,
            &format!("/dev/tasks/{task}/cancel"),
            None,
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.value()["status"], "cancelled");
    let again = env
        .send(
            reqwest::Method::POST,
            &format!("/dev/tasks/{task}/cancel"),
            None,
            None,
        )
        .await;
    again.assert_error(400, "invalid request: cancel task: no rows in result set");
    assert_eq!(env.claim(&runtime.id).await, Value::Null);
}

#[tokio::test]
async fn reassignment_cancels_active_tasks_and_enqueues_for_the_new_agent() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let first_agent = env.agent(&runtime.id, 1);
    let second_agent = env.agent(&runtime.id, 1);
    let (issue, first) = env.assigned("a", &first_agent);
    env.claim(&runtime.id).await;
    env.start(&first).await;

    let second = env
        .admin
        .assign_issue(&issue, Some(&second_agent.id))
        .expect("reassign")
        .expect("new task");
    assert_eq!(second.agent_id, second_agent.id);
    assert_eq!(env.status_of(&first).await, "cancelled");
    // The reassignment cancel does not set completed_at (CancelAgentTasksByIssue).
    assert_eq!(env.admin.task(&first).expect("task").completed_at, None);
    env.complete(&first, json!({"output": "late"}))
        .await
        .assert_error(400, "complete task: no rows in result set");
    let claimed = env.claim(&runtime.id).await;
    assert_eq!(claimed["id"], second.id);
    assert_eq!(claimed["agent"]["id"], second_agent.id);
}

#[tokio::test]
async fn tasks_of_one_issue_are_serialized() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 4);
    let (issue, first) = env.assigned("a", &agent);
    env.claim(&runtime.id).await;
    env.start(&first).await;

    // A member comment while the first task runs queues a second one.
    let comment = env
        .admin
        .add_comment(
            &issue,
            NewComment {
                content: "Also update the docs".into(),
                author_user_id: Some(env.user.id.clone()),
                ..NewComment::default()
            },
        )
        .expect("comment");
    let tasks = env.admin.tasks_for_issue(&issue);
    assert_eq!(tasks.len(), 2);
    let second = tasks[1].id.clone();
    assert_eq!(
        tasks[1].trigger_comment_id.as_deref(),
        Some(comment.id.as_str())
    );

    // A second comment coalesces into the queued task.
    env.admin
        .add_comment(
            &issue,
            NewComment {
                content: "and the changelog".into(),
                ..NewComment::default()
            },
        )
        .expect("comment");
    assert_eq!(env.admin.tasks_for_issue(&issue).len(), 2);

    assert_eq!(
        env.claim(&runtime.id).await,
        Value::Null,
        "the issue is busy"
    );
    env.complete(
        &first,
        json!({"output": "done", "session_id": "s1", "work_dir": "/w1"}),
    )
    .await;
    let claimed = env.claim(&runtime.id).await;
    assert_eq!(claimed["id"], second);
    assert_eq!(claimed["trigger_comment_id"], comment.id);
    assert_eq!(claimed["prior_session_id"], "s1");
    assert_eq!(claimed["prior_work_dir"], "/w1");

    // A comment-triggered task posts no comment on completion.
    env.start(&second).await;
    env.complete(&second, json!({"output": "replied via CLI"}))
        .await;
    let contents: Vec<String> = env
        .admin
        .issue(&issue)
        .expect("issue")
        .comments
        .into_iter()
        .map(|c| c.content)
        .collect();
    assert_eq!(
        contents,
        vec!["Also update the docs", "and the changelog", "done"]
    );
}

#[tokio::test]
async fn max_concurrent_tasks_per_agent() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 2);
    let tasks: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|t| env.assigned(t, &agent).1)
        .collect();
    assert_eq!(env.claim(&runtime.id).await["id"], tasks[0]);
    assert_eq!(env.claim(&runtime.id).await["id"], tasks[1]);
    assert_eq!(env.claim(&runtime.id).await, Value::Null);
    env.fail(&tasks[0], "boom").await;
    assert_eq!(env.claim(&runtime.id).await["id"], tasks[2]);
}

#[tokio::test]
async fn priority_orders_claims() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 5);
    let mut ids = Vec::new();
    for (title, priority) in [
        ("low", "low"),
        ("urgent", "urgent"),
        ("none", "none"),
        ("medium", "medium"),
    ] {
        let issue = env
            .admin
            .create_issue(multica_dev_server::NewIssue {
                workspace_id: env.workspace.id.clone(),
                title: title.into(),
                priority: Some(priority.into()),
                assignee_agent_id: Some(agent.id.clone()),
                ..multica_dev_server::NewIssue::default()
            })
            .expect("issue");
        ids.push((title, issue.id));
    }
    let mut claimed = Vec::new();
    for _ in 0..4 {
        let task = env.claim(&runtime.id).await;
        let issue_id = task["issue_id"].as_str().expect("issue").to_owned();
        let title = ids.iter().find(|(_, id)| *id == issue_id).expect("known").0;
        claimed.push((title, task["priority"].as_i64().expect("priority")));
    }
    assert_eq!(
        claimed,
        vec![("urgent", 4), ("medium", 2), ("low", 1), ("none", 0)]
    );
}

#[tokio::test]
async fn prior_session_on_the_second_task_of_an_issue() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let (issue, first) = env.assigned("a", &agent);
    let claimed = env.claim(&runtime.id).await;
    assert!(claimed.get("prior_session_id").is_none());
    env.start(&first).await;
    env.complete(
        &first,
        json!({"output": "one", "session_id": "sess-1", "work_dir": "/tmp/w1"}),
    )
    .await;

    // Re-running the issue for the same agent.
    let second = env
        .admin
        .assign_issue(&issue, Some(&agent.id))
        .expect("rerun")
        .expect("task");
    let claimed = env.claim(&runtime.id).await;
    assert_eq!(claimed["id"], second.id);
    assert_eq!(claimed["prior_session_id"], "sess-1");
    assert_eq!(claimed["prior_work_dir"], "/tmp/w1");

    // A failed task never provides a session.
    env.fail(&second.id, "broke").await;
    let third = env
        .admin
        .assign_issue(&issue, Some(&agent.id))
        .expect("rerun")
        .expect("task");
    let claimed = env.claim(&runtime.id).await;
    assert_eq!(claimed["id"], third.id);
    assert_eq!(claimed["prior_session_id"], "sess-1");
}

#[tokio::test]
async fn a_claim_can_dispatch_another_runtimes_task_without_returning_it() {
    let env = Env::new().await;
    let runtimes = env.register("laptop", &["claude"]).await;
    let other = env.register("desktop", &["claude"]).await;
    let (a, b) = (&runtimes[0].id, &other[0].id);
    let agent = env.agent(a, 2);
    let (_, on_a) = env.assigned("first", &agent);
    env.admin
        .update_agent(
            &agent.id,
            AgentPatch {
                runtime_id: Some(b.clone()),
                ..AgentPatch::default()
            },
        )
        .expect("move agent");
    let (_, on_b) = env.assigned("second", &agent);

    // B's claim walks B's tasks, claims for the agent, and gets A's older task.
    assert_eq!(env.claim(b).await, Value::Null);
    assert_eq!(env.status_of(&on_a).await, "dispatched");
    assert_eq!(env.status_of(&on_b).await, "queued");
    assert_eq!(env.claim(b).await["id"], on_b);
    // A never sees its task: it is already dispatched.
    assert_eq!(env.claim(a).await, Value::Null);
}

#[tokio::test]
async fn sweeper_fails_tasks_of_runtimes_that_stop_heartbeating() {
    let env = Env::with_config(DevServerConfig {
        sweep_interval: Duration::from_millis(20),
        runtime_stale_after: Duration::from_millis(600),
        ..DevServerConfig::default()
    })
    .await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let (_, task) = env.assigned("a", &agent);
    env.claim(&runtime.id).await;
    env.start(&task).await;

    // Heartbeats keep it alive past the stale threshold.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        env.post("/api/daemon/heartbeat", json!({"runtime_id": runtime.id}))
            .await
            .assert_ok();
    }
    assert_eq!(env.status_of(&task).await, "running");

    // Then they stop.
    let error = env
        .server
        .wait_until(WAIT, |s| {
            let t = s.task(&task)?;
            (t.status == TaskStatus::Failed).then_some(t.error)
        })
        .await
        .expect("the sweeper fails the task");
    assert_eq!(error.as_deref(), Some("runtime went offline"));
    assert_eq!(
        env.admin.runtime(&runtime.id).expect("runtime").status,
        "offline"
    );
    env.complete(&task, json!({"output": "too late"}))
        .await
        .assert_error(400, "complete task: no rows in result set");
    // The sweeper posts no comment.
    let issue = env.admin.task(&task).expect("task").issue_id;
    assert!(env.admin.issue(&issue).expect("issue").comments.is_empty());
}

#[tokio::test]
async fn sweeper_times_out_tasks_stuck_in_dispatched() {
    let env = Env::with_config(DevServerConfig {
        sweep_interval: Duration::from_millis(20),
        dispatched_timeout: Duration::from_millis(200),
        ..DevServerConfig::default()
    })
    .await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let (_, task) = env.assigned("a", &agent);
    env.claim(&runtime.id).await;
    let error = env
        .server
        .wait_until(WAIT, |s| {
            let t = s.task(&task)?;
            (t.status == TaskStatus::Failed).then_some(t.error)
        })
        .await
        .expect("timed out");
    assert_eq!(error.as_deref(), Some("task timed out"));
    assert_eq!(
        env.admin.runtime(&runtime.id).expect("runtime").status,
        "online"
    );
}

#[tokio::test]
async fn sweeping_by_hand_with_an_advanced_clock() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let (_, task) = env.assigned("a", &agent);
    env.claim(&runtime.id).await;
    env.start(&task).await;
    assert!(env.admin.sweep_now().is_empty());
    env.admin.advance_clock(Duration::from_secs(46));
    let report = env.admin.sweep_now();
    assert_eq!(report.runtimes_marked_offline, vec![runtime.id.clone()]);
    assert_eq!(report.tasks_failed_offline, vec![task.clone()]);
    // A heartbeat brings the runtime back; the task stays failed.
    env.post("/api/daemon/heartbeat", json!({"runtime_id": runtime.id}))
        .await
        .assert_ok();
    assert_eq!(
        env.admin.runtime(&runtime.id).expect("runtime").status,
        "online"
    );
    assert_eq!(env.status_of(&task).await, "failed");
}

#[tokio::test]
async fn wait_until_times_out_with_a_useful_message() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let err = env
        .server
        .wait_until(Duration::from_millis(150), |s| {
            s.tasks().into_iter().next().map(|t| t.id)
        })
        .await
        .expect_err("no task ever appears");
    let message = err.to_string();
    assert!(
        message.contains("condition not met within 150ms"),
        "{message}"
    );
    assert!(message.contains(&runtime.id), "{message}");
    assert!(message.contains("/api/daemon/register"), "{message}");
}

#[tokio::test]
async fn wait_until_wakes_on_changes() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let admin = env.admin.clone();
    let agent_id = agent.id.clone();
    let waiter = tokio::spawn({
        let admin = admin.clone();
        async move {
            admin
                .wait_until(WAIT, |s| s.tasks().into_iter().next().map(|t| t.status))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let issue = env.issue("later");
    admin
        .assign_issue(&issue.id, Some(&agent_id))
        .expect("assign");
    let status = waiter.await.expect("joined").expect("woken");
    assert_eq!(status, TaskStatus::Queued);
}
