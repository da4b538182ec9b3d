//! `kill_all_agents`, in a test binary of its own: it reaches every agent of the
//! process, so it would kill the runs of any test beside it.
#![cfg(unix)]

mod support;

use std::time::Duration;

use multica_agents::{AgentBackend, AgentEvent, RunStatus, StreamJsonBackend, kill_all_agents};
use tokio_util::sync::CancellationToken;

use support::{assert_group_gone, fake_spec, finish, write_script};

#[tokio::test]
async fn a_forced_exit_kills_every_running_agent_group() {
    let dir = tempfile::tempdir().expect("dir");
    let script = write_script(
        dir.path(),
        "claude",
        "trap '' INT TERM\necho '{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\"}'\nsleep 600 &\nsleep 600",
    );
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mut run = StreamJsonBackend::claude()
            .spawn(fake_spec(&script, dir.path()), CancellationToken::new())
            .expect("spawn");
        assert_eq!(
            run.events.recv().await,
            Some(AgentEvent::Status("running".into()))
        );
        runs.push(run);
    }
    assert_eq!(kill_all_agents(), 2);
    for run in runs {
        let pgid = run.pid.expect("pid");
        let (_, outcome) = finish(run).await;
        assert_eq!(outcome.status, RunStatus::Failed);
        assert!(
            outcome
                .error
                .as_deref()
                .is_some_and(|error| error.starts_with("claude was killed by signal 9 (SIGKILL)")),
            "{outcome:?}"
        );
        assert_group_gone(pgid, Duration::from_secs(3)).await;
    }
    // Finished runs are forgotten.
    assert_eq!(kill_all_agents(), 0);
}
