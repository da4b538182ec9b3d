//! The running server: the listener task, the sweeper task, and the public handle
//! on them.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::admin::Admin;
use crate::config::DevServerConfig;
use crate::views::DemoSeed;
use crate::world::{Shared, StateView, WaitTimeout};

/// An in-memory Multica server on a local port.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use multica_dev_server::{DevServer, DevServerConfig};
/// let server = DevServer::start(DevServerConfig::default()).await?;
/// let seed = server.seed_demo();
/// println!("{} {}", server.base_url(), seed.workspace.id);
/// server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct DevServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
    sweeper: Option<JoinHandle<()>>,
}

impl DevServer {
    /// Binds `127.0.0.1` on a free port and starts serving.
    pub async fn start(config: DevServerConfig) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    /// Binds `addr` and starts serving. The admin API answers loopback peers only,
    /// whatever the address.
    pub async fn start_on(addr: SocketAddr, config: DevServerConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Shared::new(config);
        let app = crate::routes::router(Arc::clone(&shared))
            .into_make_service_with_connect_info::<SocketAddr>();
        let stop = shared.shutdown.clone();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(error) = serve.await {
                tracing::error!(%error, "dev server stopped with an error");
            }
        });
        let sweeper = shared
            .config
            .sweeper_enabled
            .then(|| tokio::spawn(crate::sweeper::run(Arc::clone(&shared))));
        tracing::info!(%addr, "dev server listening");
        Ok(Self {
            addr,
            shared,
            server: Some(server),
            sweeper,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (a wildcard bind address is given as loopback).
    pub fn base_url(&self) -> String {
        let ip = if self.addr.ip().is_unspecified() {
            Ipv4Addr::LOCALHOST.into()
        } else {
            self.addr.ip()
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// Typed, in-process access to the admin API.
    pub fn admin(&self) -> Admin {
        Admin::new(Arc::clone(&self.shared))
    }

    /// Creates the demo user (with a token) and the workspace "Demo" (prefix `DEMO`).
    pub fn seed_demo(&self) -> DemoSeed {
        self.admin().seed_demo()
    }

    /// Evaluates `condition` now and after every state change (and at least every
    /// 100 ms) until it returns `Some`, or fails after `timeout`.
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        condition: impl FnMut(&StateView) -> Option<T>,
    ) -> Result<T, WaitTimeout> {
        self.shared.wait_until(timeout, condition).await
    }

    /// Stops accepting connections, finishes in-flight requests and stops the
    /// sweeper.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(sweeper) = self.sweeper.take() {
            let _ = sweeper.await;
        }
        tracing::info!(addr = %self.addr, "dev server stopped");
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}
