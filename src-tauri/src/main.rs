// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    #[cfg(target_os = "linux")]
    keep_opengl_out_of_the_tray();
    multica_app::run();
}

/// GTK 3 on X11 opens an OpenGL display as soon as it starts, only to pick visuals,
/// which loads the Mesa driver — and LLVM with it, ~50 MB — into an app that, started
/// at login with `--hidden`, sits in the tray all day with no window. Started that
/// way, GDK's OpenGL stays off; a window opened later then draws without GPU
/// compositing (WebKit follows GDK), which this window of lists and text does not
/// need. Launched by hand (the window shows at once) nothing changes. A `GDK_GL` the
/// user set, even empty, wins.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn keep_opengl_out_of_the_tray() {
    if multica_app::started_hidden() && std::env::var_os("GDK_GL").is_none() {
        // SAFETY: the first thing `main` does: no other thread exists yet that could
        // read the environment while it changes.
        unsafe { std::env::set_var("GDK_GL", "disable") };
    }
}
