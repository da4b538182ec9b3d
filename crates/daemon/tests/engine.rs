//! The engine against the dev server, with scripted agents: the task lifecycle, and
//! every way a task or the server can go wrong.

mod support;

use std::time::Duration;

use multica_api::wire::TaskStatus;
use multica_dev_server::{FaultSpec, NewWorkspace};
use support::{Harness, Script, WAIT, wait_for_pids, wait_until_dead};

#[tokio::test]
async fn a_task_is_started_streamed_and_completed_in_order() {
    let harness = Harness::new(Script::Succeed).await;
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Fix the login")
        .await;
    let done = harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;

    let result = done.result.clone().expect("result stored");
    assert_eq!(result["output"], "All done.");
    assert_eq!(done.session_id.as_deref(), Some("sess-fake"));
    let work_dir = std::path::PathBuf::from(done.work_dir.clone().expect("work dir"));
    assert!(work_dir.join("CLAUDE.md").is_file());
    assert!(work_dir.join(".agent_context/issue_context.md").is_file());
    assert!(work_dir.starts_with(harness.config.workspaces_root.join(&harness.workspace_id)));
    // When the task ends, its directory is marked for the collector.
    let task_dir = work_dir.parent().expect("task dir");
    let deadline = tokio::time::Instant::now() + support::WAIT;
    let meta = loop {
        if let Some(meta) = multica_daemon::gc::GcMeta::read(task_dir) {
            break meta;
        }
        assert!(tokio::time::Instant::now() < deadline, "no .gc_meta.json");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        (meta.kind.as_str(), meta.task_id.as_str()),
        ("issue", task.id.as_str())
    );
    assert_eq!(meta.workspace_id, harness.workspace_id);
    assert!(!meta.issue_id.is_empty());

    // The server saw the lifecycle in the order it expects.
    let requests = harness.task_requests(&task.id);
    let position = |wanted: &str| {
        requests
            .iter()
            .position(|request| request == wanted)
            .unwrap_or_else(|| panic!("no {wanted} in {requests:?}"))
    };
    assert!(position("POST start") < position("POST progress"));
    assert!(position("POST progress") < position("POST messages"));
    assert!(position("POST messages") < position("POST complete"));
    let progress: Vec<(String, i64)> = done
        .progress
        .iter()
        .map(|p| (p.summary.clone(), p.step))
        .collect();
    assert_eq!(
        progress,
        vec![
            ("Launching Claude".to_owned(), 1),
            ("Finishing task".to_owned(), 2)
        ]
    );

    // Transcript: numbered from 1 without gaps, text before the tool call.
    let seqs: Vec<i32> = done.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i32).collect::<Vec<_>>());
    let kinds: Vec<&str> = done.messages.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, vec!["text", "tool_use", "tool_result"]);
    assert_eq!(done.messages[1].tool.as_deref(), Some("Bash"));

    // The agent saw our multica first on PATH, its own task id, and the token never
    // reached the transcript.
    let output = done.messages[2].output.clone().expect("tool output");
    let cli = harness.config.multica_cli.canonicalize().expect("cli path");
    assert!(
        output.contains(&format!("cli={}", cli.display())),
        "{output}"
    );
    assert!(
        output.contains(&format!("path0={}", cli.parent().expect("dir").display())),
        "{output}"
    );
    assert!(output.contains(&format!("task={}", task.id)), "{output}");
    // What the daemon itself sent (the server masks secrets too; that must not be
    // what protects them).
    let sent: Vec<String> = harness
        .admin()
        .requests()
        .into_iter()
        .filter(|request| request.path.ends_with("/messages"))
        .filter_map(|request| request.body.map(|body| body.to_string()))
        .collect();
    assert!(!sent.is_empty());
    assert!(
        sent.iter().all(|body| !body.contains(&harness.token)),
        "token leaked: {sent:?}"
    );
    assert!(
        sent.iter().any(|body| body.contains("token=[REDACTED]")),
        "{sent:?}"
    );

    engine.stop().await;
}

#[tokio::test]
async fn a_second_task_on_the_issue_resumes_the_session_in_the_same_work_dir() {
    let harness = Harness::new(Script::Succeed).await;
    let engine = harness.start_engine().await;
    let first = harness
        .assign_new_issue(&harness.workspace_id, "Two rounds")
        .await;
    let first = harness
        .wait_for_status(&first.id, TaskStatus::Completed)
        .await;

    let comment = harness
        .admin()
        .add_comment(
            &first.issue_id,
            multica_dev_server::NewComment {
                content: "One more thing".into(),
                ..Default::default()
            },
        )
        .expect("comment");
    let second_id = harness
        .server
        .wait_until(WAIT, |state| {
            state
                .tasks_for_issue(&first.issue_id)
                .into_iter()
                .find(|task| task.id != first.id)
                .map(|task| task.id)
        })
        .await
        .expect("comment enqueues a task");
    let second = harness
        .wait_for_status(&second_id, TaskStatus::Completed)
        .await;
    assert_eq!(
        second.trigger_comment_id.as_deref(),
        Some(comment.id.as_str())
    );
    assert_eq!(second.work_dir, first.work_dir);

    let work_dir = std::path::PathBuf::from(second.work_dir.expect("work dir"));
    let args = std::fs::read_to_string(work_dir.join("args.txt")).expect("args");
    let runs: Vec<&str> = args.lines().collect();
    assert_eq!(runs.len(), 2, "{args}");
    assert!(!runs[0].contains("--resume"), "{args}");
    assert!(runs[1].contains("--resume sess-fake"), "{args}");
    let brief = std::fs::read_to_string(work_dir.join("CLAUDE.md")).expect("brief");
    assert!(
        brief.contains(&format!("--parent {}", comment.id)),
        "brief is rewritten for the comment"
    );

    engine.stop().await;
}

#[tokio::test]
async fn a_cancelled_task_loses_its_whole_process_tree_and_reports_only_the_transcript() {
    let harness = Harness::new(Script::Hang).await;
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Never ends")
        .await;
    harness.wait_for_status(&task.id, TaskStatus::Running).await;
    let pids = wait_for_pids(&harness.config.workspaces_root).await;

    harness.admin().cancel_task(&task.id).expect("cancel");
    // Status poll (200 ms) + SIGINT/SIGTERM grace (2 s + 2 s) + margin.
    wait_until_dead(&pids, Duration::from_secs(8)).await;

    // Let the runner finish, then check what it reported.
    let task_id = task.id.clone();
    harness
        .server
        .wait_until(WAIT, |_| {
            engine.handle.active_tasks().is_empty().then_some(())
        })
        .await
        .expect("runner finished");
    let view = harness.admin().task(&task_id).expect("task");
    assert_eq!(view.status, TaskStatus::Cancelled);
    assert!(
        view.messages
            .iter()
            .any(|m| m.content.as_deref() == Some("Working on it."))
    );
    let requests = harness.task_requests(&task_id);
    assert!(
        !requests
            .iter()
            .any(|r| r.ends_with("complete") || r.ends_with("fail")),
        "nothing but the transcript may be reported: {requests:?}"
    );
    engine.stop().await;
}

#[tokio::test]
async fn an_agent_that_runs_too_long_is_stopped_and_the_task_failed() {
    let mut harness = Harness::new(Script::Hang).await;
    harness.config.agent_timeout = Some(Duration::from_secs(1));
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Slow")
        .await;
    let pids = wait_for_pids(&harness.config.workspaces_root).await;
    let failed = harness.wait_for_status(&task.id, TaskStatus::Failed).await;
    assert_eq!(failed.error.as_deref(), Some("claude timed out after 1s"));
    wait_until_dead(&pids, Duration::from_secs(8)).await;
    engine.stop().await;
}

#[tokio::test]
async fn an_agent_exiting_non_zero_fails_the_task_with_its_stderr() {
    let harness = Harness::new(Script::ExitWithError).await;
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Broken")
        .await;
    let failed = harness.wait_for_status(&task.id, TaskStatus::Failed).await;
    let error = failed.error.expect("error text");
    assert!(error.contains("the model refused the request"), "{error}");
    assert!(error.contains('3'), "exit status in: {error}");
    // The error quotes stderr and becomes a comment: the daemon must have masked the
    // token before sending it.
    let fail_bodies: Vec<String> = harness
        .admin()
        .requests()
        .into_iter()
        .filter(|request| request.path.ends_with("/fail"))
        .filter_map(|request| request.body.map(|body| body.to_string()))
        .collect();
    assert_eq!(fail_bodies.len(), 1);
    assert!(!fail_bodies[0].contains(&harness.token), "{fail_bodies:?}");
    assert!(
        fail_bodies[0].contains("token was [REDACTED]"),
        "{fail_bodies:?}"
    );
    engine.stop().await;
}

#[tokio::test]
async fn a_twenty_megabyte_line_is_streamed_without_loss() {
    let harness = Harness::new(Script::HugeLine).await;
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Huge")
        .await;
    let done = harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;
    let text_bytes: usize = done
        .messages
        .iter()
        .filter(|m| m.kind == "text")
        .map(|m| m.content.as_deref().map_or(0, str::len))
        .sum();
    assert_eq!(text_bytes, 20_000_000);
    assert_eq!(done.result.expect("result")["output"], "huge done");
    engine.stop().await;
}

#[tokio::test]
async fn server_errors_on_every_endpoint_delay_but_do_not_lose_the_task() {
    let harness = Harness::new(Script::Succeed).await;
    let admin = harness.admin();
    for (path, status) in [
        ("/register", 500),
        ("/api/workspaces", 502),
        ("/heartbeat", 503),
        ("/tasks/claim", 500),
        ("/start", 503),
        ("/progress", 500),
        ("/messages", 502),
        ("/status", 500),
        ("/complete", 503),
    ] {
        admin.inject_fault(FaultSpec {
            path_contains: path.to_owned(),
            status: Some(status),
            times: Some(1),
            ..FaultSpec::default()
        });
    }
    // A claim answered with garbage must not take the daemon down either.
    admin.inject_fault(FaultSpec {
        path_contains: "/tasks/claim".to_owned(),
        status: Some(200),
        body: Some("not json".to_owned()),
        content_type: Some("application/json".to_owned()),
        times: Some(1),
        ..FaultSpec::default()
    });

    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Flaky server")
        .await;
    let done = harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;
    let seqs: Vec<i32> = done.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3], "each message exactly once, in order");
    assert!(
        harness
            .admin()
            .faults()
            .iter()
            .all(|fault| fault.remaining == Some(0)),
        "every fault was hit"
    );
    engine.stop().await;
}

#[tokio::test]
async fn a_workspace_created_while_running_is_picked_up() {
    let harness = Harness::new(Script::Succeed).await;
    let engine = harness.start_engine().await;
    harness.runtime_in(&harness.workspace_id).await;

    let second = harness
        .admin()
        .create_workspace(NewWorkspace {
            name: "Second".into(),
            member_user_ids: vec![harness.user_id.clone()],
            ..NewWorkspace::default()
        })
        .expect("workspace");
    let task = harness
        .assign_new_issue(&second.id, "In the new workspace")
        .await;
    let done = harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;
    assert_eq!(done.workspace_id, second.id);

    let config =
        multica_daemon::cli_config::CliConfig::load(&harness.config.config_file).expect("config");
    assert!(config.watched_workspaces.iter().any(|w| w.id == second.id));
    engine.stop().await;
}

#[tokio::test]
async fn shutdown_waits_for_a_running_task_then_deregisters() {
    let harness = Harness::new(Script::SucceedAfter(2)).await;
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Finish me")
        .await;
    harness.wait_for_status(&task.id, TaskStatus::Running).await;

    engine.stop().await;
    let view = harness.admin().task(&task.id).expect("task");
    assert_eq!(view.status, TaskStatus::Completed);
    let requests: Vec<String> = harness
        .admin()
        .requests()
        .into_iter()
        .map(|r| r.path)
        .collect();
    let complete = requests
        .iter()
        .position(|p| p.ends_with("/complete"))
        .expect("complete");
    let deregister = requests
        .iter()
        .position(|p| p.ends_with("/deregister"))
        .expect("deregister");
    assert!(complete < deregister, "{requests:?}");
    assert!(
        harness
            .admin()
            .runtimes()
            .iter()
            .all(|r| r.status == "offline")
    );
}

#[tokio::test]
async fn shutdown_stops_tasks_that_outlive_the_grace_period() {
    let mut harness = Harness::new(Script::Hang).await;
    harness.config.shutdown_grace = Duration::from_millis(500);
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Stuck")
        .await;
    let pids = wait_for_pids(&harness.config.workspaces_root).await;

    engine.stop().await;
    wait_until_dead(&pids, Duration::from_secs(1)).await;
    let view = harness.admin().task(&task.id).expect("task");
    assert_eq!(view.status, TaskStatus::Failed);
    assert!(
        view.error
            .expect("error")
            .contains("daemon on this machine stopped")
    );
    assert!(
        harness
            .admin()
            .runtimes()
            .iter()
            .all(|r| r.status == "offline")
    );
}

#[tokio::test]
async fn a_second_engine_on_the_same_port_is_refused_clearly() {
    let mut harness = Harness::new(Script::Succeed).await;
    let engine = harness.start_engine().await;
    harness.config.health_port = engine.handle.health_port();
    let error =
        multica_daemon::Engine::start(harness.config.clone(), Some(multica_api::Secret::new("x")))
            .await
            .expect_err("port taken");
    assert!(
        error.to_string().contains(&format!(
            "another daemon is already running on 127.0.0.1:{} (pid {})",
            harness.config.health_port,
            std::process::id()
        )),
        "{error}"
    );
    engine.stop().await;
}

#[tokio::test]
async fn no_agent_cli_is_a_clear_startup_error() {
    let mut harness = Harness::new(Script::Succeed).await;
    harness.config.agents[0].executable = harness.home.path().join("missing").join("claude");
    let error =
        multica_daemon::Engine::start(harness.config.clone(), Some(multica_api::Secret::new("x")))
            .await
            .expect_err("no agents");
    let text = error.to_string();
    assert!(
        text.contains("no agent CLI found") && text.contains("MULTICA_CLAUDE_PATH"),
        "{text}"
    );
}

#[tokio::test]
async fn a_refused_token_stops_the_engine_with_a_login_hint() {
    let harness = Harness::new(Script::Succeed).await;
    let engine = multica_daemon::Engine::start(
        harness.config.clone(),
        Some(multica_api::Secret::new("mul_not_a_real_token")),
    )
    .await
    .expect("starts");
    let error = engine
        .run(tokio_util::sync::CancellationToken::new())
        .await
        .expect_err("token refused");
    assert!(error.to_string().contains("multica login"), "{error}");
}

#[tokio::test]
async fn pings_are_answered_by_running_the_agent_and_updates_are_refused_clearly() {
    let harness = Harness::new(Script::Succeed).await;
    let engine = harness.start_engine().await;
    let runtime_id = harness.runtime_in(&harness.workspace_id).await;
    harness
        .admin()
        .queue_heartbeat_actions(multica_dev_server::HeartbeatActions {
            runtime_id: runtime_id.clone(),
            ping: true,
            update_target_version: Some("v9.9.9".into()),
        })
        .expect("queue actions");

    let (ping, update) = harness
        .server
        .wait_until(WAIT, |state| {
            let ping = state
                .pings()
                .into_iter()
                .find(|p| p.status == "completed" || p.status == "failed")?;
            let update = state.updates().into_iter().find(|u| u.status == "failed")?;
            Some((ping, update))
        })
        .await
        .expect("both answered");
    assert_eq!(ping.status, "completed", "{ping:?}");
    assert_eq!(ping.output, "All done.");
    assert!(
        update.error.contains("cannot update itself to v9.9.9"),
        "{update:?}"
    );
    engine.stop().await;
}

#[tokio::test]
async fn failures_to_report_a_failure_or_to_deregister_are_survived() {
    let harness = Harness::new(Script::ExitWithError).await;
    for path in ["/fail", "/deregister"] {
        harness.admin().inject_fault(FaultSpec {
            path_contains: path.to_owned(),
            status: Some(503),
            times: Some(1),
            ..FaultSpec::default()
        });
    }
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Fails twice")
        .await;
    // The first fail is refused with a 503; the retry lands.
    harness.wait_for_status(&task.id, TaskStatus::Failed).await;
    // The first deregistration is refused too: the engine still stops, and the
    // runtimes go offline through the server's sweeper instead.
    engine.stop().await;
    let fails = harness
        .admin()
        .requests()
        .into_iter()
        .filter(|request| request.path.ends_with("/fail"))
        .count();
    assert_eq!(fails, 2);
}

#[tokio::test]
async fn a_provider_cap_runs_its_tasks_one_after_the_other() {
    let mut harness = Harness::new(Script::SucceedAfter(1)).await;
    harness.config.agents[0].max_concurrent_tasks = Some(1);
    let engine = harness.start_engine().await;
    let first = harness
        .assign_new_issue(&harness.workspace_id, "First")
        .await;
    let second = harness
        .assign_new_issue(&harness.workspace_id, "Second")
        .await;
    harness
        .wait_for_status(&first.id, TaskStatus::Completed)
        .await;
    harness
        .wait_for_status(&second.id, TaskStatus::Completed)
        .await;

    // Which task started first is the server's choice; the other may start only
    // once that one has completed.
    let paths: Vec<String> = harness
        .admin()
        .requests()
        .into_iter()
        .map(|r| r.path)
        .collect();
    let position = |task: &str, action: &str| {
        paths
            .iter()
            .position(|p| p.contains(task) && p.ends_with(action))
            .unwrap_or_else(|| panic!("no {action} for {task}: {paths:?}"))
    };
    let (a, b) = if position(&first.id, "/start") < position(&second.id, "/start") {
        (&first.id, &second.id)
    } else {
        (&second.id, &first.id)
    };
    assert!(
        position(a, "/complete") < position(b, "/start"),
        "the second task started while the first ran: {paths:?}"
    );
    engine.stop().await;
}

#[tokio::test]
async fn each_task_gets_its_own_temp_dir_slot_and_private_profile_and_a_marked_brief() {
    let harness = Harness::new(Script::Succeed).await;
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Task environment")
        .await;
    let done = harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;
    let work_dir = std::path::PathBuf::from(done.work_dir.clone().expect("work dir"));
    let seen = std::fs::read_to_string(work_dir.join("task_env.txt")).expect("env written");
    let var = |name: &str| {
        seen.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {seen}"))
            .to_owned()
    };
    let temp = var("TMPDIR");
    assert_eq!((var("TMP"), var("TEMP")), (temp.clone(), temp.clone()));
    assert!(temp.contains("multica-task-"), "{temp}");
    assert_eq!(
        std::fs::read_to_string(work_dir.join("tmpdir_mode.txt"))
            .expect("mode")
            .trim(),
        "700"
    );
    assert_eq!(var("MULTICA_TASK_SLOT"), "0", "the first free slot");
    let config_root = std::path::PathBuf::from(var("MULTICA_TASK_CONFIG_ROOT"));
    assert_eq!(
        config_root,
        work_dir.parent().expect("task dir").join("multica-config")
    );
    assert!(config_root.is_dir());
    assert_eq!(
        std::path::PathBuf::from(var("MULTICA_TASK_WORKSPACES_ROOT")),
        harness.config.workspaces_root
    );
    // The temporary directory goes with the task.
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while std::path::Path::new(&temp).exists() {
        assert!(tokio::time::Instant::now() < deadline, "{temp} left behind");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let brief = std::fs::read_to_string(work_dir.join("CLAUDE.md")).expect("brief");
    assert!(
        brief.starts_with("<!-- BEGIN MULTICA-RUNTIME (auto-managed; do not edit) -->\n"),
        "{brief}"
    );
    assert!(brief.ends_with("<!-- END MULTICA-RUNTIME -->\n"), "{brief}");
    engine.stop().await;
}
