//! Typed access to the Multica server: the wire types of its daemon API and an async
//! client that speaks it.

mod client;
mod error;
mod secret;
mod server_url;
pub mod wire;

pub use client::{DEFAULT_REQUEST_TIMEOUT, DaemonClient};
pub use error::{ApiError, ApiErrorKind};
pub use secret::Secret;
pub use server_url::{ServerUrl, ServerUrlError};
