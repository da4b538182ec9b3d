//! What the tray shows, decided from the host's status and the engine's health:
//! the icon (idle, working, paused, offline, needs login, error), the tooltip and
//! the menu. Plain data, so it is tested without a desktop; `tray.rs` draws it.
//! Every action is a menu item: Linux trays give the app no click events.

use multica_daemon::HealthReport;

use crate::host::HostStatus;

/// The tray icon's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayLook {
    Idle,
    Working(usize),
    Paused,
    Offline,
    NeedsLogin,
    Error,
}

impl TrayLook {
    pub fn decide(status: &HostStatus, health: Option<&HealthReport>) -> TrayLook {
        match status {
            HostStatus::NeedsLogin { .. } => TrayLook::NeedsLogin,
            HostStatus::Retrying { .. } => TrayLook::Error,
            HostStatus::Starting | HostStatus::Stopped => TrayLook::Offline,
            HostStatus::Running => match health {
                None => TrayLook::Offline,
                Some(health) if health.state == "offline" => TrayLook::Offline,
                Some(health) if health.running_tasks > 0 => TrayLook::Working(health.running_tasks),
                Some(health) if health.paused => TrayLook::Paused,
                Some(_) => TrayLook::Idle,
            },
        }
    }

    /// The icon file (in `icons/tray/`) for this state.
    pub fn icon_name(self) -> &'static str {
        match self {
            TrayLook::Idle => "idle",
            TrayLook::Working(_) => "busy",
            TrayLook::Paused => "paused",
            TrayLook::Offline => "offline",
            TrayLook::NeedsLogin => "login",
            TrayLook::Error => "error",
        }
    }
}

/// The first line of the menu and the tooltip.
pub fn headline(status: &HostStatus, health: Option<&HealthReport>) -> String {
    match status {
        HostStatus::NeedsLogin { reason: None } => "Multica: log in to start".to_owned(),
        HostStatus::NeedsLogin {
            reason: Some(reason),
        } => format!("Multica: log in again ({})", first_clause(reason)),
        HostStatus::Starting => "Multica: starting…".to_owned(),
        HostStatus::Stopped => "Multica: stopped".to_owned(),
        HostStatus::Retrying {
            reason,
            retry_in_secs,
        } => format!(
            "Multica: error, retrying in {retry_in_secs} s ({})",
            first_clause(reason)
        ),
        HostStatus::Running => {
            let Some(health) = health else {
                return "Multica: starting…".to_owned();
            };
            let tasks = match health.running_tasks {
                0 => "idle".to_owned(),
                1 => "working on 1 task".to_owned(),
                n => format!("working on {n} tasks"),
            };
            let mut line = format!("Multica: {tasks}");
            if health.paused {
                line.push_str(", not taking new tasks");
            }
            if health.state != "online" {
                match &health.state_reason {
                    Some(reason) => {
                        line.push_str(&format!(" — {} ({})", health.state, first_clause(reason)));
                    }
                    None => line.push_str(&format!(" — {}", health.state)),
                }
            }
            line
        }
    }
}

/// Menu text stays short: the reason up to its first `;` or `:` clause end.
fn first_clause(reason: &str) -> String {
    let cut = reason.find(';').unwrap_or(reason.len());
    let clause = reason[..cut].trim();
    if clause.chars().count() > 80 {
        let short: String = clause.chars().take(79).collect();
        format!("{short}…")
    } else {
        clause.to_owned()
    }
}

/// One entry of the tray menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuEntry {
    /// Shown, not clickable.
    Label(String),
    Action {
        id: String,
        text: String,
    },
    Submenu {
        text: String,
        entries: Vec<MenuEntry>,
    },
    Separator,
}

impl MenuEntry {
    fn action(id: impl Into<String>, text: impl Into<String>) -> MenuEntry {
        MenuEntry::Action {
            id: id.into(),
            text: text.into(),
        }
    }
}

/// Menu item ids that are not per task.
pub mod ids {
    pub const OPEN: &str = "open";
    pub const SETTINGS: &str = "settings";
    pub const TASKS: &str = "tasks";
    pub const USAGE: &str = "usage";
    pub const PAUSE: &str = "pause";
    pub const RESUME: &str = "resume";
    pub const LOGIN: &str = "login";
    pub const LOGOUT: &str = "logout";
    pub const CHECK_UPDATES: &str = "check-updates";
    pub const OPEN_LOGS: &str = "open-logs";
    pub const COPY_DIAGNOSTICS: &str = "copy-diagnostics";
    pub const QUIT: &str = "quit";
    pub const QUIT_AFTER_TASKS: &str = "quit-after-tasks";
    pub const QUIT_STOPPING_TASKS: &str = "quit-stopping-tasks";
    /// `task-open:<task id>`
    pub const TASK_OPEN: &str = "task-open:";
    /// `task-cancel:<task id>`
    pub const TASK_CANCEL: &str = "task-cancel:";
}

/// A workspace as the menu and the window name it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorkspaceName {
    pub id: String,
    pub name: String,
}

/// The whole menu.
pub fn menu(
    status: &HostStatus,
    health: Option<&HealthReport>,
    names: &[WorkspaceName],
) -> Vec<MenuEntry> {
    let mut entries = vec![
        MenuEntry::Label(headline(status, health)),
        MenuEntry::Separator,
    ];
    let logged_in = !matches!(status, HostStatus::NeedsLogin { .. });
    let mut running_tasks = 0;
    if let (HostStatus::Running, Some(health)) = (status, health) {
        for workspace in &health.workspaces {
            let name = names
                .iter()
                .find(|named| named.id == workspace.id)
                .map_or(workspace.id.as_str(), |named| named.name.as_str());
            let runtimes = match workspace.runtimes.len() {
                0 => "not registered".to_owned(),
                1 => "1 runtime".to_owned(),
                n => format!("{n} runtimes"),
            };
            entries.push(MenuEntry::Label(format!(
                "{name}: {}, {runtimes}",
                health.agents.join(", ")
            )));
        }
        if health.workspaces.is_empty() {
            entries.push(MenuEntry::Label("No workspace watched".to_owned()));
        }
        running_tasks = health.active_tasks.len();
        if !health.active_tasks.is_empty() {
            entries.push(MenuEntry::Separator);
            for task in &health.active_tasks {
                let short: String = task.task_id.chars().take(8).collect();
                entries.push(MenuEntry::Submenu {
                    text: format!("Task {short} ({})", task.provider),
                    entries: vec![
                        MenuEntry::action(
                            format!("{}{}", ids::TASK_OPEN, task.task_id),
                            "Open transcript",
                        ),
                        MenuEntry::action(
                            format!("{}{}", ids::TASK_CANCEL, task.task_id),
                            "Stop this task",
                        ),
                    ],
                });
            }
        }
        entries.push(MenuEntry::Separator);
        if health.paused {
            entries.push(MenuEntry::action(ids::RESUME, "Resume taking tasks"));
        } else {
            entries.push(MenuEntry::action(ids::PAUSE, "Pause taking new tasks"));
        }
    }
    entries.push(MenuEntry::Separator);
    entries.push(MenuEntry::action(ids::OPEN, "Open Multica"));
    if logged_in {
        entries.push(MenuEntry::action(ids::TASKS, "Tasks…"));
        entries.push(MenuEntry::action(ids::USAGE, "Token usage…"));
    }
    entries.push(MenuEntry::action(ids::SETTINGS, "Settings…"));
    if logged_in {
        entries.push(MenuEntry::action(ids::LOGOUT, "Log out"));
    } else {
        entries.push(MenuEntry::action(ids::LOGIN, "Log in…"));
    }
    entries.push(MenuEntry::action(ids::CHECK_UPDATES, "Check for updates"));
    entries.push(MenuEntry::action(ids::OPEN_LOGS, "Open logs folder"));
    entries.push(MenuEntry::action(ids::COPY_DIAGNOSTICS, "Copy diagnostics"));
    entries.push(MenuEntry::Separator);
    if running_tasks > 0 {
        entries.push(MenuEntry::Submenu {
            text: "Quit Multica".to_owned(),
            entries: vec![
                MenuEntry::action(
                    ids::QUIT_AFTER_TASKS,
                    format!(
                        "Quit when the running task{} finish{}",
                        if running_tasks == 1 { "" } else { "s" },
                        if running_tasks == 1 { "es" } else { "" }
                    ),
                ),
                MenuEntry::action(
                    ids::QUIT_STOPPING_TASKS,
                    format!(
                        "Stop {running_tasks} running task{} and quit",
                        if running_tasks == 1 { "" } else { "s" }
                    ),
                ),
            ],
        });
    } else {
        entries.push(MenuEntry::action(ids::QUIT, "Quit Multica"));
    }
    entries
}

#[cfg(test)]
mod tests {
    use multica_daemon::{ActiveTask, HealthWorkspace};

    use super::*;

    fn health(running: usize, paused: bool, state: &str) -> HealthReport {
        HealthReport {
            status: "running".into(),
            pid: 1,
            uptime: "1m".into(),
            daemon_id: "d".into(),
            device_name: "box".into(),
            server_url: "http://127.0.0.1:1".into(),
            cli_version: "0".into(),
            agents: vec!["claude".into(), "codex".into()],
            workspaces: vec![HealthWorkspace {
                id: "ws-1".into(),
                runtimes: vec!["rt-1".into(), "rt-2".into()],
                runtime_details: Vec::new(),
            }],
            agent_clis: Vec::new(),
            agents_missing: Vec::new(),
            last_server_contact_unix_ms: None,
            running_tasks: running,
            active_tasks: (0..running)
                .map(|n| ActiveTask {
                    task_id: format!("task-{n}-0123456789"),
                    issue_id: "i".into(),
                    workspace_id: "ws-1".into(),
                    provider: "claude".into(),
                    started_at_unix: 0,
                })
                .collect(),
            state: state.into(),
            state_reason: (state != "online").then(|| "cannot reach the server; retrying".into()),
            paused,
        }
    }

    fn ids_of(entries: &[MenuEntry]) -> Vec<String> {
        let mut ids = Vec::new();
        for entry in entries {
            match entry {
                MenuEntry::Action { id, .. } => ids.push(id.clone()),
                MenuEntry::Submenu { entries, .. } => ids.extend(ids_of(entries)),
                _ => {}
            }
        }
        ids
    }

    #[test]
    fn the_icon_tells_the_state_at_a_glance() {
        let running = HostStatus::Running;
        assert_eq!(
            TrayLook::decide(&running, Some(&health(0, false, "online"))),
            TrayLook::Idle
        );
        assert_eq!(
            TrayLook::decide(&running, Some(&health(2, false, "online"))),
            TrayLook::Working(2)
        );
        assert_eq!(
            TrayLook::decide(&running, Some(&health(0, true, "online"))),
            TrayLook::Paused
        );
        assert_eq!(
            TrayLook::decide(&running, Some(&health(0, false, "offline"))),
            TrayLook::Offline
        );
        assert_eq!(
            TrayLook::decide(&HostStatus::NeedsLogin { reason: None }, None),
            TrayLook::NeedsLogin
        );
        let retrying = HostStatus::Retrying {
            reason: "no agent CLI found".into(),
            retry_in_secs: 4,
        };
        assert_eq!(TrayLook::decide(&retrying, None), TrayLook::Error);
        assert!(headline(&retrying, None).contains("retrying in 4 s (no agent CLI found)"));
    }

    #[test]
    fn the_menu_lists_workspaces_tasks_and_a_quit_that_asks() {
        let names = [WorkspaceName {
            id: "ws-1".into(),
            name: "Acme".into(),
        }];
        let busy = health(2, false, "online");
        let entries = menu(&HostStatus::Running, Some(&busy), &names);
        assert_eq!(
            entries[0],
            MenuEntry::Label("Multica: working on 2 tasks".into())
        );
        assert!(entries.contains(&MenuEntry::Label("Acme: claude, codex, 2 runtimes".into())));
        let ids = ids_of(&entries);
        assert!(ids.contains(&"task-open:task-0-0123456789".to_owned()));
        assert!(ids.contains(&"task-cancel:task-1-0123456789".to_owned()));
        assert!(ids.contains(&ids::PAUSE.to_owned()));
        assert!(ids.contains(&ids::TASKS.to_owned()) && ids.contains(&ids::USAGE.to_owned()));
        assert!(ids.contains(&ids::QUIT_AFTER_TASKS.to_owned()));
        assert!(ids.contains(&ids::QUIT_STOPPING_TASKS.to_owned()));
        assert!(
            !ids.contains(&ids::QUIT.to_owned()),
            "quitting asks what to do"
        );

        let idle = menu(
            &HostStatus::Running,
            Some(&health(0, true, "online")),
            &names,
        );
        let ids = ids_of(&idle);
        assert!(ids.contains(&ids::RESUME.to_owned()));
        assert!(ids.contains(&ids::QUIT.to_owned()));
        assert!(ids.contains(&ids::LOGOUT.to_owned()));

        let logged_out = menu(&HostStatus::NeedsLogin { reason: None }, None, &names);
        let ids = ids_of(&logged_out);
        assert!(ids.contains(&ids::LOGIN.to_owned()));
        assert!(!ids.contains(&ids::PAUSE.to_owned()));
        assert!(
            !ids.contains(&ids::USAGE.to_owned()),
            "nothing to show before a login"
        );
    }

    #[test]
    fn long_reasons_are_cut_to_their_first_clause() {
        let offline = health(0, false, "offline");
        let line = headline(&HostStatus::Running, Some(&offline));
        assert_eq!(line, "Multica: idle — offline (cannot reach the server)");
        let long = "x".repeat(200);
        assert_eq!(first_clause(&long).chars().count(), 80);
    }
}
