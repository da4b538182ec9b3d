//! Process-group handling shared by the backends: an agent runs in a group of its
//! own, so that stopping it reaches every process it started (shells, test
//! runners, dev servers), not only the CLI itself.

use std::collections::BTreeSet;
use std::process::ExitStatus;
use std::sync::Mutex;
use std::time::Duration;

use tokio::process::Child;
use tracing::debug;

use crate::KillGrace;

/// How long survivors of a finished agent get after SIGTERM before SIGKILL.
const STRAGGLER_GRACE: Duration = Duration::from_millis(500);

/// Process groups of agents that are running now, so that a forced exit of the
/// host can end them: they are in groups of their own, so a signal to the host does
/// not reach them, and `kill_on_drop` does not run on `process::exit`.
static LIVE_GROUPS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn live_groups() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    LIVE_GROUPS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn track_group(pgid: Option<u32>) {
    if let Some(pgid) = pgid {
        live_groups().insert(pgid);
    }
}

pub(crate) fn untrack_group(pgid: Option<u32>) {
    if let Some(pgid) = pgid {
        live_groups().remove(&pgid);
    }
}

/// Kills every running agent's process group at once. For a host that must exit
/// now (a second Ctrl-C); normal shutdown stops agents gracefully instead.
pub fn kill_all_agents() -> usize {
    let groups: Vec<u32> = live_groups().iter().copied().collect();
    groups
        .iter()
        .filter(|pgid| signal_group(**pgid, GroupSignal::Kill))
        .count()
}

/// Puts the command in a new process group whose id is the child's pid.
pub(crate) fn own_process_group(command: &mut tokio::process::Command) {
    #[cfg(unix)]
    command.process_group(0);
    // Dropping the child handle (a panic, an aborted task) must not leave the CLI
    // running unsupervised.
    command.kill_on_drop(true);
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum GroupSignal {
    Interrupt,
    Terminate,
    Kill,
}

/// Sends a signal to the whole group. `false` when no process of it remains.
#[cfg(unix)]
pub(crate) fn signal_group(pgid: u32, signal: GroupSignal) -> bool {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    let signal = match signal {
        GroupSignal::Interrupt => Signal::SIGINT,
        GroupSignal::Terminate => Signal::SIGTERM,
        GroupSignal::Kill => Signal::SIGKILL,
    };
    killpg(Pid::from_raw(raw), signal).is_ok()
}

#[cfg(unix)]
fn group_exists(pgid: u32) -> bool {
    use nix::sys::signal::killpg;
    use nix::unistd::Pid;
    i32::try_from(pgid).is_ok_and(|raw| killpg(Pid::from_raw(raw), None).is_ok())
}

#[cfg(not(unix))]
pub(crate) fn signal_group(_pgid: u32, _signal: GroupSignal) -> bool {
    // Without process groups the child handle is the only lever; the callers fall
    // back to `Child::start_kill`.
    false
}

#[cfg(not(unix))]
fn group_exists(_pgid: u32) -> bool {
    false
}

/// Stops a running agent: SIGINT, then SIGTERM, then SIGKILL to its group, waiting
/// the grace periods in between. Returns the CLI's exit status.
pub(crate) async fn stop_escalating(
    child: &mut Child,
    pgid: Option<u32>,
    grace: KillGrace,
) -> Option<ExitStatus> {
    let steps = [
        (GroupSignal::Interrupt, grace.after_interrupt),
        (GroupSignal::Terminate, grace.after_terminate),
    ];
    for (signal, wait) in steps {
        let delivered = pgid.is_some_and(|pgid| signal_group(pgid, signal));
        if !delivered {
            break;
        }
        debug!(?signal, "stopping agent");
        if let Ok(status) = tokio::time::timeout(wait, child.wait()).await {
            return status.ok();
        }
    }
    if let Some(pgid) = pgid {
        signal_group(pgid, GroupSignal::Kill);
    }
    let _ = child.start_kill();
    child.wait().await.ok()
}

/// After the CLI exited, ends whatever it left running in its group (background
/// jobs of its tools): the task is over, nothing of it may linger.
pub(crate) async fn end_stragglers(pgid: Option<u32>) {
    let Some(pgid) = pgid else {
        return;
    };
    if !group_exists(pgid) || !signal_group(pgid, GroupSignal::Terminate) {
        return;
    }
    debug!(pgid, "ending processes the agent left behind");
    let deadline = tokio::time::Instant::now() + STRAGGLER_GRACE;
    while group_exists(pgid) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    signal_group(pgid, GroupSignal::Kill);
}
