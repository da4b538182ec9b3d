//! The engine's state (online, degraded, offline, with the reason) as it is
//! published on the event bus and `/health`.
#![cfg(unix)]

mod support;

use std::time::Duration;

use multica_api::ServerUrl;
use multica_daemon::EngineState;
use multica_daemon::events::EngineEvent;
use multica_dev_server::FaultSpec;
use support::{Harness, Script, WAIT};
use tokio::sync::broadcast::Receiver;

async fn next_state(events: &mut Receiver<EngineEvent>, wanted: &str) -> EngineState {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(EngineEvent::StateChanged { state }) = events.recv().await
                && state.word() == wanted
            {
                return state;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the engine never became {wanted}"))
}

#[tokio::test]
async fn online_then_degraded_while_a_result_waits_then_online_again() {
    let harness = Harness::new(Script::Succeed).await;
    harness.admin().inject_fault(FaultSpec {
        path_contains: "/complete".to_owned(),
        status: Some(503),
        times: Some(0),
        ..FaultSpec::default()
    });
    let engine = harness.start_engine().await;
    let mut events = engine.handle.subscribe();
    next_state(&mut events, "online").await;

    harness
        .assign_new_issue(&harness.workspace_id, "Stuck result")
        .await;
    let degraded = next_state(&mut events, "degraded").await;
    assert!(
        degraded
            .reason()
            .unwrap_or_default()
            .contains("waiting to be delivered"),
        "{degraded:?}"
    );
    let health = engine.handle.health();
    assert_eq!(health.state, "degraded");

    harness.admin().clear_faults();
    next_state(&mut events, "online").await;
    engine.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_is_offline_with_the_reason() {
    let mut harness = Harness::new(Script::Succeed).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    harness.config.server_url = ServerUrl::parse(&format!("http://127.0.0.1:{port}")).expect("url");
    let engine = harness.start_engine().await;
    let mut events = engine.handle.subscribe();
    let offline = next_state(&mut events, "offline").await;
    assert!(
        offline
            .reason()
            .unwrap_or_default()
            .contains("cannot reach the server"),
        "{offline:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(engine.handle.health().state, "offline");
    engine.stop().await;
}
