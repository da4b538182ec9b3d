fn main() {
    // The window's files are built by `scripts/build-ui.sh` (Vite) into ui/dist, which
    // the app embeds; without them the build would fail with a less helpful message.
    if !std::path::Path::new("../ui/dist/index.html").exists() {
        println!(
            "cargo::error=ui/dist is missing: run scripts/build-ui.sh (npm ci + vite build) first"
        );
    }
    tauri_build::build();
}
