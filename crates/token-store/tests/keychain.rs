//! The real OS keychain. On Linux this needs a Secret Service on the session bus
//! (the test script runs the suite under `dbus-run-session` with an unlocked
//! gnome-keyring and sets `MULTICA_REQUIRE_KEYCHAIN=1`, so there it cannot skip).

use multica_api::{Secret, ServerUrl};
use multica_token_store::{KeychainStore, TokenAccount, TokenStore, TokenStoreError};

fn keychain_required() -> bool {
    std::env::var("MULTICA_REQUIRE_KEYCHAIN").is_ok_and(|v| v == "1")
}

/// The store, or `None` (and a note) when no keychain runs here and none is required.
#[allow(clippy::print_stderr, reason = "a skipped test says why")]
fn usable_keychain() -> Option<KeychainStore> {
    let store = KeychainStore::new();
    match store.probe() {
        Ok(()) => Some(store),
        Err(error) if !keychain_required() => {
            eprintln!("skipping: no usable keychain here ({error})");
            None
        }
        Err(error) => panic!("MULTICA_REQUIRE_KEYCHAIN=1 but the keychain fails: {error}"),
    }
}

#[test]
fn tokens_round_trip_per_profile_and_server() {
    let Some(store) = usable_keychain() else {
        return;
    };
    let server = ServerUrl::parse("http://127.0.0.1:9").expect("valid url");
    let other_server = ServerUrl::parse("http://127.0.0.1:10").expect("valid url");
    let default = TokenAccount::new(&server, None);
    let dev = TokenAccount::new(&server, Some("keychain-test"));
    let elsewhere = TokenAccount::new(&other_server, None);
    for account in [&default, &dev, &elsewhere] {
        let _ = store.delete(account);
    }

    store
        .save(&default, &Secret::new("mul_default"))
        .expect("save default");
    store.save(&dev, &Secret::new("mul_dev")).expect("save dev");
    let read = |account: &TokenAccount| {
        store
            .load(account)
            .expect("load")
            .map(|s| s.expose().to_owned())
    };
    assert_eq!(read(&default).as_deref(), Some("mul_default"));
    assert_eq!(read(&dev).as_deref(), Some("mul_dev"));
    assert_eq!(read(&elsewhere), None);

    store
        .save(&default, &Secret::new("mul_replaced"))
        .expect("overwrite");
    assert_eq!(read(&default).as_deref(), Some("mul_replaced"));

    assert!(store.delete(&default).expect("delete"));
    assert!(!store.delete(&default).expect("second delete"));
    assert_eq!(read(&default), None);
    assert!(store.delete(&dev).expect("delete dev"));
}

#[test]
fn unreachable_keychain_is_reported_as_unavailable() {
    if cfg!(not(target_os = "linux")) {
        return;
    }
    // Point the Secret Service client at a bus that does not exist. This runs in a
    // child process, so the environment of this test binary stays untouched.
    if std::env::var("MULTICA_KEYCHAIN_CHILD").is_ok() {
        let error = KeychainStore::new()
            .probe()
            .expect_err("no bus, no keychain");
        assert!(
            matches!(error, TokenStoreError::KeychainUnavailable { .. }),
            "{error:?}"
        );
        return;
    }
    let me = std::env::current_exe().expect("test binary");
    let status = std::process::Command::new(me)
        .args([
            "--exact",
            "unreachable_keychain_is_reported_as_unavailable",
            "--nocapture",
        ])
        .env("MULTICA_KEYCHAIN_CHILD", "1")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/multica-test-bus",
        )
        .env_remove("DISPLAY")
        .status()
        .expect("run child");
    assert!(status.success());
}
