//! `kill -9` of the real daemon process: what it finished is delivered by the
//! next one from its outbox, and a task it was running is reported failed when it
//! starts again. The agent is a script; the server is the dev server.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use multica_api::wire::TaskStatus;
use multica_dev_server::{FaultSpec, NewAgent, NewIssue};

mod support;

use support::{Daemon, LoggedInMachine, free_port};

const WAIT: Duration = Duration::from_secs(60);

/// A Claude stand-in: answers at once, or (with `hang`) notes its pid and sleeps.
fn write_agent(dir: &Path, hang: bool) -> PathBuf {
    let body = if hang {
        "echo $$ > agent.pid\nexec sleep 300\n"
    } else {
        r#"printf '{"type":"system","subtype":"init","session_id":"s","model":"fake"}\n'
printf '{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Working."}]}}\n'
printf '{"type":"result","subtype":"success","is_error":false,"result":"Finished before the kill.","session_id":"s"}\n'
"#
    };
    let path = dir.join(if hang { "claude-hang" } else { "claude" });
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '2.1.0 (Claude Code)'; exit 0; fi\n{body}"
        ),
    )
    .expect("agent");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn start_daemon(machine: &LoggedInMachine, agent: &Path, root: &Path) -> Daemon {
    let mut command = machine.daemon_command(free_port(), root);
    command
        .env("MULTICA_CLAUDE_PATH", agent)
        .env("MULTICA_REPORT_RETRY", "200ms")
        .env("MULTICA_AGENT_REDISCOVERY_INTERVAL", "0");
    Daemon {
        child: command.spawn().expect("start the daemon"),
    }
}

async fn assign(machine: &LoggedInMachine, runtime_id: &str, title: &str) -> String {
    let admin = machine.server.admin();
    let agent = admin
        .create_agent(NewAgent {
            workspace_id: machine.workspace_id.clone(),
            runtime_id: runtime_id.to_owned(),
            name: title.into(),
            ..NewAgent::default()
        })
        .expect("agent");
    let issue = admin
        .create_issue(NewIssue {
            workspace_id: machine.workspace_id.clone(),
            title: title.into(),
            ..NewIssue::default()
        })
        .expect("issue");
    admin
        .assign_issue(&issue.id, Some(&agent.id))
        .expect("assign")
        .expect("a task")
        .id
}

async fn wait_for(machine: &LoggedInMachine, task_id: &str, wanted: TaskStatus) {
    machine
        .server
        .wait_until(WAIT, |state| {
            (state.task_status(task_id) == Some(wanted)).then_some(())
        })
        .await
        .unwrap_or_else(|_| panic!("task never became {wanted:?}"));
}

async fn wait_for_file(dir: &Path, suffix: &str) -> PathBuf {
    tokio::time::timeout(WAIT, async {
        loop {
            let found = std::fs::read_dir(dir).ok().and_then(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.path())
                    .find(|path| path.to_string_lossy().ends_with(suffix))
            });
            if let Some(found) = found {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no file ending in {suffix} in {}", dir.display()))
}

async fn kill_9(mut daemon: Daemon) {
    daemon.child.start_kill().expect("SIGKILL");
    daemon.child.wait().await.expect("reaped");
}

#[tokio::test]
async fn a_result_finished_before_kill_9_is_delivered_by_the_next_daemon() {
    let machine = LoggedInMachine::new("Killed with a result").await;
    let agent = write_agent(machine.home.path(), false);
    let root = machine.home.path().join("workspaces");
    machine.server.admin().inject_fault(FaultSpec {
        path_contains: "/complete".to_owned(),
        status: Some(503),
        times: Some(0),
        ..FaultSpec::default()
    });
    let daemon = start_daemon(&machine, &agent, &root);
    let runtime = machine.online_runtime().await;
    let task_id = assign(&machine, &runtime.id, "Finish, then die").await;
    wait_for_file(&root.join(".outbox"), "-complete.json").await;
    kill_9(daemon).await;

    machine.server.admin().clear_faults();
    let restarted = start_daemon(&machine, &agent, &root);
    wait_for(&machine, &task_id, TaskStatus::Completed).await;
    let task = machine.server.admin().task(&task_id).expect("task");
    assert_eq!(
        task.result.expect("result")["output"],
        "Finished before the kill."
    );
    let exit = restarted.stop().await;
    assert!(exit.success(), "{exit}");
}

#[tokio::test]
async fn a_task_running_at_kill_9_is_reported_failed_by_the_next_daemon() {
    let machine = LoggedInMachine::new("Killed mid-run").await;
    let agent = write_agent(machine.home.path(), true);
    let root = machine.home.path().join("workspaces");
    let daemon = start_daemon(&machine, &agent, &root);
    let runtime = machine.online_runtime().await;
    let task_id = assign(&machine, &runtime.id, "Die mid-run").await;
    wait_for(&machine, &task_id, TaskStatus::Running).await;
    let pid_file = tokio::time::timeout(WAIT, async {
        loop {
            let found = walk_for(&root, "agent.pid");
            if let Some(found) = found {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the agent started");
    kill_9(daemon).await;
    // The agent, in a process group of its own, outlives the daemon; end it.
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );

    let restarted = start_daemon(&machine, &agent, &root);
    wait_for(&machine, &task_id, TaskStatus::Failed).await;
    let task = machine.server.admin().task(&task_id).expect("task");
    assert!(
        task.error
            .clone()
            .unwrap_or_default()
            .contains("crashed or was killed"),
        "{:?}",
        task.error
    );
    let exit = restarted.stop().await;
    assert!(exit.success(), "{exit}");
}

fn walk_for(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = walk_for(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}
