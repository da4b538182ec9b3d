//! `multica attachment download <id> [-o DIR]`: streams an issue's or comment's file
//! to disk and prints where it went.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::GlobalOptions;
use crate::cells;
use crate::failure::{Failure, FailureKind};
use crate::output::{self, OutputFormat};
use crate::session::Session;

use multica_api::{DownloadError, MAX_UPLOAD_BYTES as MAX_ATTACHMENT_BYTES};

#[derive(Debug, Args)]
pub(crate) struct AttachmentArgs {
    #[command(subcommand)]
    action: AttachmentAction,
}

#[derive(Debug, Subcommand)]
enum AttachmentAction {
    /// Save an attachment (at most 100 MB) and print its path.
    Download {
        id: String,
        /// Directory to save into (default: the current directory).
        #[arg(short, long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
    },
}

pub(crate) async fn run(args: AttachmentArgs, globals: &GlobalOptions) -> Result<()> {
    let AttachmentAction::Download { id, output_dir } = args.action;
    let session = Session::in_workspace(globals).await?;
    let attachment = session
        .client
        .get_attachment(&id)
        .await
        .map_err(session.failure(&format!("attachment {id}")))?;
    let dir = match output_dir {
        Some(dir) => dir,
        None => std::env::current_dir()?,
    };
    std::fs::create_dir_all(&dir).map_err(|error| {
        Failure::new(
            FailureKind::General,
            format!("cannot create {}: {error}", dir.display()),
        )
    })?;
    let path = match session
        .client
        .download_attachment(&attachment, &dir, MAX_ATTACHMENT_BYTES)
        .await
    {
        Ok(path) => path,
        Err(DownloadError::Api(error)) => {
            return Err(session.failure(&format!("attachment {id}"))(error).into());
        }
        Err(error @ DownloadError::TooLarge { .. }) => {
            return Err(
                Failure::new(FailureKind::Rejected, format!("attachment {id}: {error}")).into(),
            );
        }
        Err(other) => return Err(Failure::new(FailureKind::General, other.to_string()).into()),
    };
    match globals.output {
        OutputFormat::Json => output::json(&json!({
            "path": path,
            "attachment": attachment,
        })),
        OutputFormat::Table => {
            output::line(&path.display().to_string());
            output::note(&format!(
                "{} ({} bytes)",
                cells::text(&attachment, "filename"),
                cells::text(&attachment, "size_bytes")
            ));
            Ok(())
        }
    }
}
