//! Typed access to the Multica server: the wire types of its daemon API and an async
//! client that speaks it.

mod client;
mod error;
mod secret;
mod server_url;
mod user_client;
pub mod wire;

pub use client::{DEFAULT_REQUEST_TIMEOUT, DaemonClient};
pub use error::{ApiError, ApiErrorKind};
pub use secret::Secret;
pub use server_url::{ServerUrl, ServerUrlError};
pub use user_client::{
    Account, CommentPage, CreatedToken, DEFAULT_USER_TIMEOUT, DownloadError, IssueFilter,
    MAX_UPLOAD_BYTES, UploadError, UserClient,
};
