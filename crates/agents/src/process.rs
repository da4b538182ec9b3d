//! Process groups: an agent runs in a group of its own, so that stopping it reaches
//! every process it started (shells, test runners, dev servers), not only the CLI.

use std::collections::BTreeSet;
use std::process::ExitStatus;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::process::Child;
use tracing::debug;

use crate::KillGrace;

/// How long processes left behind by a finished agent get after SIGTERM before
/// SIGKILL: the task is over, they have no work to save.
const STRAGGLER_GRACE: Duration = Duration::from_millis(500);

/// Process groups of agents that are running now, so that a forced exit of the
/// host can end them: they are in groups of their own, so a signal to the host does
/// not reach them, and `kill_on_drop` does not run on `process::exit`.
static LIVE_GROUPS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn live_groups() -> MutexGuard<'static, BTreeSet<u32>> {
    LIVE_GROUPS.lock().unwrap_or_else(PoisonError::into_inner)
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

/// Kills every running agent's process group at once and returns how many it
/// reached. For a host that must exit now (a second Ctrl-C); a normal shutdown
/// stops agents gracefully through their cancel tokens instead.
pub fn kill_all_agents() -> usize {
    let groups: Vec<u32> = live_groups().iter().copied().collect();
    groups
        .into_iter()
        .filter(|&pgid| signal_group(pgid, GroupSignal::Kill))
        .count()
}

/// Puts the command in a new process group whose id is the child's pid.
pub(crate) fn own_process_group(command: &mut tokio::process::Command) {
    #[cfg(unix)]
    command.process_group(0);
    // Windows has no signals to send to a group; a group of its own still keeps
    // the console's Ctrl-C meant for us away from the agent.
    #[cfg(windows)]
    command.creation_flags(0x0000_0200); // CREATE_NEW_PROCESS_GROUP
    // Dropping the child handle (a panic, an aborted task) must not leave the CLI
    // running with nobody to stop it.
    command.kill_on_drop(true);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupSignal {
    Interrupt,
    Terminate,
    Kill,
}

/// Sends a signal to the whole group. `false` when no process of it remains.
#[cfg(unix)]
pub(crate) fn signal_group(pgid: u32, signal: GroupSignal) -> bool {
    use nix::sys::signal::{Signal, killpg};
    let Some(pgid) = group_pid(pgid) else {
        return false;
    };
    let signal = match signal {
        GroupSignal::Interrupt => Signal::SIGINT,
        GroupSignal::Terminate => Signal::SIGTERM,
        GroupSignal::Kill => Signal::SIGKILL,
    };
    killpg(pgid, signal).is_ok()
}

/// Whether any process of the group remains (zombies included).
#[cfg(unix)]
pub(crate) fn group_exists(pgid: u32) -> bool {
    group_pid(pgid).is_some_and(|pgid| nix::sys::signal::killpg(pgid, None).is_ok())
}

/// A pid usable as a process group id; 0 and 1 would address our own group or
/// every process we may signal, so they are refused.
#[cfg(unix)]
fn group_pid(pgid: u32) -> Option<nix::unistd::Pid> {
    i32::try_from(pgid)
        .ok()
        .filter(|&raw| raw > 1)
        .map(nix::unistd::Pid::from_raw)
}

#[cfg(not(unix))]
pub(crate) fn signal_group(_pgid: u32, _signal: GroupSignal) -> bool {
    // No process-group signals: callers fall back to killing the child itself.
    false
}

#[cfg(not(unix))]
pub(crate) fn group_exists(_pgid: u32) -> bool {
    false
}

/// Stops a running agent: SIGINT, then SIGTERM, then SIGKILL to its group, waiting
/// the grace periods in between for the CLI to exit. Returns its exit status.
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
        if !pgid.is_some_and(|pgid| signal_group(pgid, signal)) {
            break;
        }
        debug!(?signal, pgid, "stopping the agent");
        if let Ok(status) = tokio::time::timeout(wait, child.wait()).await {
            return status.ok();
        }
    }
    if let Some(pgid) = pgid {
        debug!(pgid, "killing the agent's process group");
        signal_group(pgid, GroupSignal::Kill);
    }
    // Reaches the CLI even where groups cannot be signalled.
    let _ = child.start_kill();
    child.wait().await.ok()
}

/// Ends whatever is left in the group of an agent that has exited (background jobs
/// of its tools): SIGTERM, a short grace, then SIGKILL.
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
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Zombies also count as existing, so this may be redundant; it is harmless.
    signal_group(pgid, GroupSignal::Kill);
}
