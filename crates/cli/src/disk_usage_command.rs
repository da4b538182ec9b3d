//! `multica daemon disk-usage [--by-workspace]`: what the workspaces root takes,
//! measured on disk (the daemon need not run).

use anyhow::{Context, Result};
use multica_daemon::cli_config::CliConfig;
use multica_daemon::disk_usage::{self, DiskUsage};

use crate::doctor::human_bytes;
use crate::output::OutputFormat;
use crate::settings::Settings;
use crate::{GlobalOptions, output};

pub(crate) async fn show(by_workspace: bool, globals: &GlobalOptions) -> Result<()> {
    let config = Settings::load(globals)?.daemon_config()?;
    let root = config.workspaces_root.clone();
    let patterns = config.gc.artifact_patterns.clone();
    // Walking a large tree is blocking work.
    let mut usage = tokio::task::spawn_blocking(move || disk_usage::measure(&root, &patterns))
        .await
        .context("measuring the workspaces root failed")?;
    if let Ok(file) = CliConfig::load(&config.config_file) {
        for workspace in &mut usage.workspaces {
            workspace.name = file
                .watched_workspaces
                .iter()
                .find(|watched| watched.id == workspace.workspace_id)
                .map(|watched| watched.name.clone())
                .filter(|name| !name.is_empty());
        }
    }
    match globals.output {
        OutputFormat::Json => output::json(&usage),
        OutputFormat::Table => {
            output::line(&render(&usage, by_workspace));
            Ok(())
        }
    }
}

fn render(usage: &DiskUsage, by_workspace: bool) -> String {
    let mut text = format!("Workspaces root: {}\n\n", usage.root);
    if by_workspace {
        let rows: Vec<Vec<String>> = usage
            .workspaces
            .iter()
            .map(|workspace| {
                let label = match &workspace.name {
                    Some(name) => format!("{name} ({})", workspace.workspace_id),
                    None => workspace.workspace_id.clone(),
                };
                vec![
                    label,
                    workspace.task_dirs.to_string(),
                    human_bytes(workspace.task_bytes),
                    human_bytes(workspace.artifact_bytes),
                    workspace.cached_repos.to_string(),
                    human_bytes(workspace.repo_bytes),
                    human_bytes(workspace.total_bytes),
                ]
            })
            .collect();
        text.push_str(&output::render_table(
            &[
                "WORKSPACE",
                "TASKS",
                "TASK SIZE",
                "BUILD OUTPUT",
                "REPOS",
                "REPO SIZE",
                "TOTAL",
            ],
            &rows,
        ));
    } else {
        let rows = vec![
            vec![
                "task directories".to_owned(),
                usage.task_dirs.to_string(),
                human_bytes(usage.task_bytes),
            ],
            vec![
                "  of which build output".to_owned(),
                String::new(),
                human_bytes(usage.artifact_bytes),
            ],
            vec![
                "cached repositories".to_owned(),
                usage.cached_repos.to_string(),
                human_bytes(usage.repo_bytes),
            ],
            vec![
                "other".to_owned(),
                String::new(),
                human_bytes(usage.other_bytes),
            ],
            vec![
                "total".to_owned(),
                String::new(),
                human_bytes(usage.total_bytes),
            ],
        ];
        text.push_str(&output::render_table(&["WHAT", "ITEMS", "SIZE"], &rows));
    }
    text.trim_end().to_owned()
}
