//! The operating system asking the process to stop, for the engine's hosts.

/// Returns on the next SIGINT or SIGTERM (Ctrl-C on Windows): log-out, shutdown,
/// `kill`, Ctrl-C.
#[cfg(unix)]
pub async fn stop_requested() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut interrupt), Ok(mut terminate)) => {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
pub async fn stop_requested() {
    let _ = tokio::signal::ctrl_c().await;
}
