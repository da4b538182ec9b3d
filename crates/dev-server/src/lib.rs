//! An in-memory stand-in for the Multica server's daemon API (contract Part A, seed
//! `9495179923`), for tests, benchmarks and demos.
//!
//! It answers like the seed server, down to status codes, error texts and quirks:
//! `{"task":null}` when idle, 500 `heartbeat failed` for an unknown runtime, 400
//! `complete task: no rows in result set` after a cancel, 401s sent as
//! `text/plain`, JSON bodies ending in a newline. Around that it offers what tests
//! need: an admin API (typed, [`Admin`], and over HTTP under `/dev`), fault
//! injection, a request log, a configurable sweeper, and
//! [`DevServer::wait_until`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use multica_dev_server::{DevServer, DevServerConfig, NewIssue};
//!
//! let server = DevServer::start(DevServerConfig::fast()).await?;
//! let seed = server.seed_demo();
//! // … start a daemon against server.base_url() with seed.user.token, then:
//! let runtime = server
//!     .wait_until(Duration::from_secs(5), |s| s.runtimes().into_iter().next())
//!     .await?;
//! # let _ = runtime; Ok(()) }
//! ```

mod admin;
pub mod cli;
mod config;
mod go;
mod redact;
mod routes;
mod server;
mod state;
mod sweeper;
mod traffic;
mod views;
mod world;

pub use admin::Admin;
pub use config::{Clock, DevServerConfig, ServerMode};
pub use server::DevServer;
pub use state::TaskUsageRecord;
pub use views::{
    AdminError, AgentPatch, AgentView, AssignIssue, CommentView, DemoSeed, FaultSpec, FaultView,
    HeartbeatActions, HeartbeatActionsQueued, IssueChangeView, IssueView, MemberView,
    MessageRecord, NewAgent, NewComment, NewIssue, NewUser, NewWorkspace, ProgressRecord, RepoSpec,
    RequestRecord, RuntimeActionView, RuntimeSpec, SkillFileSpec, SkillSpec, StateDump,
    SweepReport, TaskTimings, TaskView, TokenView, TriggerSpec, UsageRecord, UserView,
    UserWithToken,
};
pub use world::{StateView, WaitTimeout};
