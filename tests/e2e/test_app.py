"""The desktop app end to end: log in with a token, watch a workspace, have a task
assigned and run by the real Claude Code CLI against the fake model API, see it
complete in the window. Run by tests/e2e/run.sh (Xvfb, private keychain)."""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.options import ArgOptions

BIN = Path(os.environ["MULTICA_E2E_BIN"])
ARTIFACTS = Path(os.environ["MULTICA_E2E_ARTIFACTS"])
CLAUDE = os.environ["MULTICA_E2E_CLAUDE"]
TAURI_DRIVER = os.environ["MULTICA_E2E_TAURI_DRIVER"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what, check, timeout=60.0, every=0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (NoSuchElementException, StaleElementReferenceException, OSError) as error:
            last = error
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class DevServer:
    def __init__(self, port):
        self.url = f"http://127.0.0.1:{port}"

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return json.loads(text) if text else None


@pytest.fixture
def world():
    """The dev server, the fake model API, a throw-away HOME, and the app's env."""
    home = Path(tempfile.mkdtemp(prefix="multica-e2e-home-"))
    processes = []
    port = free_port()
    processes.append(
        subprocess.Popen(
            [str(BIN / "multica-dev-server"), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=open(ARTIFACTS / "dev-server.log", "w"),
        )
    )
    server = DevServer(port)
    wait_for("the dev server", lambda: server.call("GET", "/health"))
    model = subprocess.Popen(
        [
            str(BIN / "fake-model-api"),
            "--scenario",
            "tool-then-answer",
            "--command",
            "multica --version",
            "--text",
            "Checked the multica CLI.",
        ],
        stdout=subprocess.PIPE,
        stderr=open(ARTIFACTS / "fake-model-api.log", "w"),
        text=True,
    )
    processes.append(model)
    model_env = {}
    first = model.stdout.readline()
    assert first.startswith("# fake model API"), first
    # Then one `export KEY=value` line per variable, the last one this.
    for _ in range(20):
        line = model.stdout.readline().strip()
        key, _, value = line.removeprefix("export ").partition("=")
        model_env[key] = value
        if key == "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC":
            break
    assert "ANTHROPIC_BASE_URL" in model_env, model_env
    seed = server.call("POST", "/dev/seed-demo")
    # The "system browser": follows the sign-in page's redirect to the app's callback.
    browser_dir = home / "browser"
    browser_dir.mkdir()
    browser = browser_dir / "xdg-open"
    browser.write_text(
        "#!/bin/sh\n"
        'exec python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=20).read()" "$1"\n'
    )
    browser.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{browser_dir}:{env['PATH']}"
    env.update(model_env)
    env.update(
        {
            "HOME": str(home),
            "MULTICA_SERVER_URL": server.url,
            "MULTICA_CLAUDE_PATH": CLAUDE,
            "MULTICA_LOGIN_SHELL": "off",
            "MULTICA_DAEMON_HEALTH_PORT": str(free_port()),
            "MULTICA_DAEMON_POLL_INTERVAL": "500ms",
            "MULTICA_LOG": "info",
            # Claude Code refuses to skip permissions as root outside a sandbox.
            "IS_SANDBOX": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }
    )
    env.pop("MULTICA_TOKEN", None)
    yield {"server": server, "seed": seed, "env": env, "home": home}
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def tray_host(world):
    """A StatusNotifier host on the virtual display, so the tray icon is drawn."""
    host = subprocess.Popen(
        ["gtk-sni-tray-standalone", "--watcher", "--top", "--end", "--size", "32"],
        env=world["env"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.5)
    yield host
    host.terminate()


def new_session(driver_port, options):
    """A WebDriver session. WebKitWebDriver sometimes drops the first session
    request of a machine under heavy load (seen once in CI: "Remote end closed
    connection without response"); the second is answered."""
    url = f"http://127.0.0.1:{driver_port}"
    try:
        return webdriver.Remote(command_executor=url, options=options)
    except Exception as error:  # urllib3's ProtocolError or selenium's WebDriverException
        print(f"the first WebDriver session request failed ({error}); trying once more")
        time.sleep(3)
        return webdriver.Remote(command_executor=url, options=options)


@pytest.fixture
def app(request, world, tray_host):
    driver_port = free_port()
    driver_log = open(ARTIFACTS / "tauri-driver.log", "w")
    tauri_driver = subprocess.Popen(
        [
            TAURI_DRIVER,
            "--port",
            str(driver_port),
            "--native-port",
            str(free_port()),
            "--native-driver",
            "/usr/bin/WebKitWebDriver",
        ],
        env=world["env"],
        stdout=driver_log,
        stderr=subprocess.STDOUT,
    )

    def driver_up():
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", driver_port)) == 0

    wait_for("tauri-driver", driver_up, timeout=20)
    options = ArgOptions()
    options.set_capability("browserName", "wry")
    options.set_capability("tauri:options", {"application": str(BIN / "multica-app")})
    driver = new_session(driver_port, options)
    driver.implicitly_wait(0)
    yield driver
    # What the window showed last, for a failure's post-mortem.
    try:
        (ARTIFACTS / f"last-page-{request.node.name}.html").write_text(driver.page_source)
    except Exception as error:  # the window may be gone (closed, updated)
        print(f"no page source: {error}")
    # A session whose window is gone may not answer: quitting must not hang.
    quitting = threading.Thread(target=driver.quit, daemon=True)
    quitting.start()
    quitting.join(timeout=20)
    tauri_driver.terminate()
    try:
        tauri_driver.wait(timeout=20)
    except subprocess.TimeoutExpired:
        tauri_driver.kill()
    subprocess.run(["pkill", "-f", str(BIN / "multica-app")], check=False)


def invoke(driver, command, args=None):
    """Calls an IPC command from the page, as the UI does; returns its JSON answer:
    {"ok": value}, or {"error": {"code", "message"}} as the core sends it."""
    return driver.execute_async_script(
        """
        const [command, args, done] = arguments;
        window.__TAURI__.core.invoke(command, args)
          .then((value) => done(JSON.stringify({ok: value})))
          .catch((error) => done(JSON.stringify({
            error: typeof error === "object" && error !== null ? error : String(error),
          })));
        """,
        command,
        args or {},
    )


def shoot(driver, name):
    """Saves the window as it is, light and dark (Settings → Appearance)."""
    for theme in ("light", "dark"):
        driver.execute_script(
            "document.documentElement.dataset.theme = arguments[0]", theme
        )
        time.sleep(0.3)
        driver.save_screenshot(str(ARTIFACTS / f"window-{name}-{theme}.png"))
    driver.execute_script("delete document.documentElement.dataset.theme")


def screenshot_tray_menu(path):
    """Right-clicks the tray icon drawn by the StatusNotifier host (top right) and
    captures the screen with its menu open."""
    found = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--class", "gtk-sni-tray-standalone"],
        capture_output=True,
        text=True,
    )
    windows = found.stdout.split()
    if windows:
        geometry = subprocess.run(
            ["xdotool", "getwindowgeometry", "--shell", windows[-1]], capture_output=True, text=True
        ).stdout
        values = dict(line.split("=", 1) for line in geometry.split() if "=" in line)
        x = int(values.get("X", 1248)) + int(values.get("WIDTH", 32)) - 16
        y = int(values.get("Y", 0)) + 16
    else:
        x, y = 1264, 16
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "3"], check=False)
    time.sleep(1.5)
    subprocess.run(["import", "-window", "root", str(path)], check=False)
    subprocess.run(["xdotool", "key", "Escape"], check=False)


def test_log_in_watch_a_workspace_and_run_a_task(world, app):
    server, seed, driver = world["server"], world["seed"], app
    token = seed["user"]["token"]
    workspace = seed["workspace"]

    # Not logged in: the window opens on the login form.
    wait_for("the login form", lambda: driver.find_element(By.ID, "login-form"))
    state = driver.find_element(By.ID, "engine-state")
    assert state.get_attribute("data-state") == "needs_login"
    url = driver.find_element(By.ID, "server-url")
    url.clear()
    url.send_keys(server.url)
    # A wrong token is refused with a clear message and stores nothing.
    driver.find_element(By.ID, "token").send_keys("mul_not_a_real_token")
    driver.find_element(By.ID, "login-button").click()
    refused = wait_for(
        "the refusal", lambda: driver.find_element(By.ID, "login-error").text.strip()
    )
    assert "refused the token" in refused
    token_field = driver.find_element(By.ID, "token")
    token_field.clear()
    token_field.send_keys(token)
    driver.find_element(By.ID, "login-button").click()

    # Logged in: the token is in the keychain, shared with the CLI's account naming.
    watch = f"input.watch[data-id='{workspace['id']}']"
    wait_for("the workspace list", lambda: driver.find_element(By.CSS_SELECTOR, watch))
    stored = subprocess.run(
        ["secret-tool", "lookup", "service", "multica", "username", f"default@{server.url}"],
        capture_output=True,
        text=True,
    )
    assert stored.stdout.strip() == token, "the token is in the OS keychain"

    def watched():
        box = driver.find_element(By.CSS_SELECTOR, watch)
        if not box.is_selected():
            box.click()
        return box.is_selected()

    wait_for("the workspace to be watched", watched)

    # The engine registers a runtime for the watched workspace.
    def runtime():
        runtimes = server.call("GET", "/dev/runtimes")
        return next(
            (r for r in runtimes if r["workspace_id"] == workspace["id"] and r["status"] == "online"),
            None,
        )

    registered = wait_for("a runtime in the workspace", runtime, timeout=60)
    agent = server.call(
        "POST",
        "/dev/agents",
        {"workspace_id": workspace["id"], "runtime_id": registered["id"], "name": "Ada"},
    )
    issue = server.call(
        "POST", "/dev/issues", {"workspace_id": workspace["id"], "title": "Check the CLI"}
    )
    task = server.call("POST", f"/dev/issues/{issue['id']}/assign", {"agent_id": agent["id"]})
    task_id = task["id"]

    driver.execute_script("location.hash = '#/tasks'")
    row = wait_for(
        "the task to complete in the window",
        lambda: driver.find_element(
            By.CSS_SELECTOR, f"tr[data-task-id='{task_id}'][data-status='completed']"
        ),
        timeout=240,
        every=1,
    )
    assert "completed" in row.text and "claude" in row.text
    # Tokens and cost as the agent reported them (the fake model API's counts).
    wait_for("the task's tokens", lambda: re.search(r"\d", row.find_elements(By.CSS_SELECTOR, "td.number")[0].text))
    shoot(driver, "tasks")
    done = server.call("GET", f"/dev/tasks/{task_id}")
    assert done["status"] == "completed", done

    # The transcript view shows the agent's tool call (collapsed, with its command)
    # and its answer; search finds the command.
    driver.execute_script(f"location.hash = '#/task/{task_id}'")
    transcript = wait_for(
        "the transcript", lambda: driver.find_element(By.ID, "transcript").text
    )
    wait_for(
        "the answer and the tool call",
        lambda: "Checked the multica CLI." in driver.find_element(By.ID, "transcript").text
        and "multica --version" in driver.find_element(By.ID, "transcript").text,
    )
    search = driver.find_element(By.ID, "transcript-search")
    search.send_keys("multica --version")
    wait_for("a search match", lambda: driver.find_element(By.CSS_SELECTOR, "#transcript .entry.match"))
    assert driver.find_element(By.ID, "search-count").text.startswith("1 of ")
    assert driver.find_element(By.ID, "open-folder").is_enabled(), "the task's folder is known"
    shoot(driver, "transcript")

    # The runtimes view: the workspace's Claude runtime, online, with its version
    # and a recent heartbeat; the agents found and the ones not found with the fix.
    driver.execute_script("location.hash = '#/'")
    runtime_row = wait_for(
        "the runtime row",
        lambda: driver.find_element(By.CSS_SELECTOR, f"tr[data-runtime-id='{registered['id']}']"),
    )
    assert runtime_row.get_attribute("data-status") == "online", runtime_row.text
    assert "claude" in runtime_row.text and "ago" in runtime_row.text or "just now" in runtime_row.text
    agents_text = driver.find_element(By.ID, "agents").text
    assert "claude" in agents_text
    missing = driver.find_elements(By.CSS_SELECTOR, "#agents li[data-found='no']")
    assert all("MULTICA_" in item.text or "install" in item.text for item in missing), agents_text
    assert "last answer" in driver.find_element(By.ID, "server-connection").text
    shoot(driver, "runtimes")

    # Usage: the run counted per task, and the machine-wide figures (the Claude
    # session log under HOME, scanned after the task) equal `multica usage`.
    driver.execute_script("location.hash = '#/usage'")
    wait_for("the task's usage", lambda: task_id[:8] in driver.find_element(By.ID, "usage-tasks").text, timeout=60)

    def machine_total():
        report = json.loads(invoke(driver, "usage", {"since": "30d"}))["ok"]
        machine = report and report.get("machine")
        return machine and machine["total"]["total"] > 0 and report

    report = wait_for("the machine's usage", machine_total, timeout=90, every=2)
    cli = subprocess.run(
        [str(BIN / "multica"), "usage", "--since", report["since"], "--output", "json"],
        env=world["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["total"]["total"] == report["machine"]["total"]["total"], cli.stdout
    driver.execute_script("location.hash = '#/tasks'; location.hash = '#/usage'")
    shown = wait_for("the usage totals", lambda: driver.find_element(By.ID, "usage-total-tokens").text)
    assert shown.replace(",", "").replace(" ", "") == str(report["machine"]["total"]["total"]), shown
    assert driver.find_elements(By.CSS_SELECTOR, "#usage-chart rect")
    shoot(driver, "usage")

    # The log view, filtered.
    driver.execute_script("location.hash = '#/logs'")
    wait_for("log lines", lambda: driver.find_elements(By.CSS_SELECTOR, "#log-lines li"))
    driver.find_element(By.ID, "log-filter-text").send_keys("watching workspace")
    wait_for(
        "the filtered log",
        lambda: all(
            "watching workspace" in li.text.lower()
            for li in driver.find_elements(By.CSS_SELECTOR, "#log-lines li")
        )
        and driver.find_elements(By.CSS_SELECTOR, "#log-lines li"),
    )
    shoot(driver, "log")

    # The tray menu, drawn by a StatusNotifier host.
    screenshot_tray_menu(ARTIFACTS / "tray-menu.png")

    # The token never reaches the window, a log line or a plain file.
    status = invoke(driver, "app_status")
    assert token not in status
    assert json.loads(status)["ok"]["host"]["state"] == "running"
    diagnostics = json.loads(invoke(driver, "diagnostics"))["ok"]
    assert token not in diagnostics
    log_dir = next(
        (line.split(": ", 1)[1] for line in diagnostics.splitlines() if line.startswith("logs: ")),
        None,
    )
    assert log_dir, diagnostics
    scanned = 0
    for folder in [world["home"], Path(log_dir)]:
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                scanned += 1
                assert token.encode() not in path.read_bytes(), f"token found in {path}"
    assert scanned > 0
    logs = list(Path(log_dir).glob("multica-app*.log"))
    assert logs and any("logged in" in p.read_text(errors="replace") for p in logs)

    # Closing the window (as its close button does) leaves the app and its engine
    # running in the tray.
    driver.execute_script(
        "setTimeout(() => window.__TAURI__.window.getCurrentWindow().close(), 200)"
    )
    time.sleep(2.0)
    health_port = world["env"]["MULTICA_DAEMON_HEALTH_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/health", timeout=5) as answer:
        health = json.loads(answer.read())
    assert health["status"] == "running" and health["workspaces"], health


def test_sign_in_with_the_browser_then_log_out(world, app):
    server, driver = world["server"], app
    wait_for("the login form", lambda: driver.find_element(By.ID, "login-form"))
    url = driver.find_element(By.ID, "server-url")
    url.clear()
    url.send_keys(server.url)
    driver.find_element(By.ID, "browser-login").click()
    # The app opened the "browser", the dev server signed the demo user in and sent
    # it back to the app, which traded the session for a personal access token.
    wait_for("the workspace list", lambda: driver.find_element(By.ID, "workspace-list"), timeout=60)
    account = f"default@{server.url}"
    stored = subprocess.run(
        ["secret-tool", "lookup", "service", "multica", "username", account],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert stored.startswith("mul_") and stored != world["seed"]["user"]["token"], stored
    tokens = [t for t in server.call("GET", "/dev/state")["tokens"] if "Desktop (" in t.get("name", "")]
    assert tokens, "a token named for this computer was issued"

    shoot(driver, "workspaces")
    driver.execute_script("location.hash = '#/settings'")
    agents = wait_for("the agents table", lambda: driver.find_element(By.ID, "agents-table"))
    assert "Claude" in agents.text and "Codex" in agents.text
    shoot(driver, "settings")
    wait_for("the settings", lambda: driver.find_element(By.ID, "logout")).click()
    wait_for("the login form again", lambda: driver.find_element(By.ID, "login-form"))
    gone = subprocess.run(
        ["secret-tool", "lookup", "service", "multica", "username", account],
        capture_output=True,
        text=True,
    )
    assert gone.stdout.strip() == "", "log out removes the token from the keychain"
    shoot(driver, "login")


UI_BIN = Path(__file__).resolve().parents[2] / "ui" / "node_modules" / ".bin" / "tauri"


class UpdateServer:
    """Serves latest.json and the update: first a tampered one, then the real one."""

    def __init__(self, folder, signature):
        import http.server

        self.folder, self.signature, self.served = folder, signature, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.served.append(self.path)
                if self.path.startswith("/latest.json"):
                    tampered = sum(p.startswith("/latest.json") for p in outer.served) == 1
                    name = "update-tampered.AppImage" if tampered else "update.AppImage"
                    body = json.dumps(
                        {
                            "version": "9.9.9",
                            "notes": "test",
                            "pub_date": "2026-11-30T00:00:00Z",
                            "platforms": {
                                "linux-x86_64": {
                                    "signature": outer.signature,
                                    "url": f"http://127.0.0.1:{outer.port}/{name}",
                                }
                            },
                        }
                    ).encode()
                else:
                    body = (outer.folder / self.path.lstrip("/")).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def update_world(world):
    folder = Path(tempfile.mkdtemp(prefix="multica-e2e-update-"))
    key = folder / "update.key"
    subprocess.run(
        [str(UI_BIN), "signer", "generate", "--ci", "-p", "", "-w", str(key), "-f"],
        check=True,
        capture_output=True,
    )
    payload = folder / "update.AppImage"
    # Linux updates are AppImages, which are ELF executables: a small real one.
    payload.write_bytes(Path(shutil.which("true")).read_bytes())
    subprocess.run(
        [str(UI_BIN), "signer", "sign", "-f", str(key), "-p", "", str(payload)],
        check=True,
        capture_output=True,
    )
    signature = (folder / "update.AppImage.sig").read_text().strip()
    tampered = bytearray(payload.read_bytes())
    tampered[-1] ^= 0xFF
    (folder / "update-tampered.AppImage").write_bytes(bytes(tampered))
    server = UpdateServer(folder, signature)
    target = folder / "installed-app"
    target.write_bytes(b"the app before the update")
    target.chmod(0o755)
    world["env"].update(
        {
            "MULTICA_UPDATE_ENDPOINT": f"http://127.0.0.1:{server.port}/latest.json",
            "MULTICA_UPDATE_PUBKEY": (folder / "update.key.pub").read_text().strip(),
            "MULTICA_UPDATE_EXECUTABLE": str(target),
        }
    )
    yield {"payload": payload, "target": target, "server": server}
    server.httpd.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


def update_states(driver, timeout):
    """Asks for an update check and collects the app's update-status events."""
    driver.execute_script(
        """
        window.__updates = [];
        window.__TAURI__.event.listen("update-status", (e) => window.__updates.push(e.payload));
        window.__TAURI__.core.invoke("check_for_updates");
        """
    )

    def finished():
        states = driver.execute_script("return window.__updates")
        last = states[-1]["state"] if states else None
        return states if last in ("failed", "installing", "up_to_date") else None

    return wait_for("the update check", finished, timeout=timeout)


def test_updates_are_verified_before_they_are_installed(update_world, app):
    driver = app
    wait_for("the window", lambda: driver.find_element(By.ID, "engine-state"))
    # A download that does not match its signature is refused; nothing is installed.
    refused = update_states(driver, 60)
    assert refused[-1]["state"] == "failed", refused
    assert "refused" in refused[-1]["error"], refused
    assert update_world["target"].read_bytes() == b"the app before the update"
    # The signed one is accepted and installed (here into a stand-in executable);
    # then the app restarts itself, which ends the WebDriver session.
    driver.execute_script("window.__TAURI__.core.invoke('check_for_updates')")
    payload = update_world["payload"].read_bytes()
    wait_for(
        "the update to be installed",
        lambda: update_world["target"].read_bytes() == payload,
        timeout=60,
    )
    served = update_world["server"].served
    assert "/update-tampered.AppImage" in served and "/update.AppImage" in served, served


@pytest.fixture
def logged_in_by_the_cli(world):
    """The token stored in the keychain by `multica login` before the app starts."""
    server = world["server"]
    login = subprocess.run(
        [str(BIN / "multica"), "--server-url", server.url, "login", "--token", world["seed"]["user"]["token"]],
        env=world["env"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert login.returncode == 0, login.stderr
    return world


def emit_transcript(driver, task_id, messages, batch=1000):
    """Feeds a transcript through the app's own event channel, as the engine does."""
    return driver.execute_async_script(
        """
        const [taskId, messages, batch, done] = arguments;
        const emit = (payload) => window.__TAURI__.event.emit("engine-event", payload);
        (async () => {
          await emit({type: "task_claimed", task_id: taskId, issue_id: "issue-" + taskId,
                      workspace_id: "ws", runtime_id: "rt", provider: "claude"});
          for (let start = 0; start < messages.length; start += batch) {
            await emit({type: "task_messages", task_id: taskId, messages: messages.slice(start, start + batch)});
          }
          done("ok");
        })().catch((error) => done(String(error)));
        """,
        task_id,
        messages,
        batch,
    )


XSS = [
    '<img src=x onerror="window.__xss = 1">',
    "<script>window.__xss = 2</script>",
    "[click me](javascript:window.__xss=3)",
    '<iframe src="http://127.0.0.1:9/"></iframe><svg onload="window.__xss=4"></svg>',
    "![remote](http://127.0.0.1:9/pixel.png)",
]


def test_a_launch_with_a_stored_token_and_untrusted_or_huge_transcripts(logged_in_by_the_cli, app):
    world, driver = logged_in_by_the_cli, app
    # Logged in by the CLI: the app starts its engine at launch, no login form.
    wait_for(
        "the engine running",
        lambda: json.loads(invoke(driver, "app_status"))["ok"]["host"]["state"] == "running",
    )
    wait_for("the runtimes view", lambda: driver.find_element(By.ID, "runtimes-view"))

    # Untrusted agent output renders as text and runs nothing.
    messages = [{"seq": n + 1, "type": "text", "content": text} for n, text in enumerate(XSS)]
    messages += [
        {"seq": 10, "type": "tool_result", "tool": "Bash", "output": XSS[0] + XSS[1]},
        {"seq": 11, "type": "tool_use", "tool": "Bash", "input": {"command": XSS[1]}},
        {"seq": 12, "type": "error", "content": XSS[0]},
        {"seq": 13, "type": "thinking", "content": XSS[3]},
    ]
    assert emit_transcript(driver, "xss-task-0001", messages) == "ok"
    driver.execute_script("location.hash = '#/task/xss-task-0001'")
    wait_for("the transcript", lambda: "onerror" in driver.find_element(By.ID, "transcript").text)
    for details in driver.find_elements(By.CSS_SELECTOR, "#transcript details"):
        details.click()
    for link in driver.find_elements(By.CSS_SELECTOR, "#transcript a"):
        link.click()
    time.sleep(1.0)
    # Opened rows push the ones below them down: nothing overlaps.
    overlaps = driver.execute_script(
        """
        const rows = [...document.querySelectorAll("#transcript .entry")]
          .map((row) => row.getBoundingClientRect()).sort((a, b) => a.top - b.top);
        return rows.slice(1).filter((row, i) => row.top < rows[i].bottom - 1).length;
        """
    )
    assert overlaps == 0, f"{overlaps} rows overlap"
    text = driver.find_element(By.ID, "transcript").text
    assert '<img src=x onerror="window.__xss = 1">' in text
    assert "<script>window.__xss = 2</script>" in text
    found = driver.execute_script(
        """
        const t = document.getElementById("transcript");
        const attributes = [...t.querySelectorAll("*")].flatMap((el) => [...el.attributes].map((a) => a.name));
        return {
          xss: window.__xss ?? null,
          elements: t.querySelectorAll("img, script, iframe, svg, object, embed, style, link").length,
          handlers: attributes.filter((name) => name.startsWith("on")).length,
          hrefs: [...t.querySelectorAll("a[href]")].map((a) => a.getAttribute("href")),
        };
        """
    )
    assert found["xss"] is None, found
    assert found["elements"] == 0 and found["handlers"] == 0, found
    assert all(href.startswith(("http:", "https:", "mailto:")) for href in found["hrefs"]), found
    assert "#/task/xss-task-0001" in driver.current_url, "no navigation away"
    shoot(driver, "transcript-untrusted")

    # 100,000 events: rendered, scrolled and searched with a bounded page.
    # Feeding and measuring take longer than WebDriver's 30 s default for a script.
    driver.set_script_timeout(600)
    started = time.monotonic()
    fed = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const emit = (payload) => window.__TAURI__.event.emit("engine-event", payload);
        const kinds = ["text", "tool_use", "tool_result", "thinking", "text", "error"];
        (async () => {
          await emit({type: "task_claimed", task_id: "big-task-0001", issue_id: "issue-big",
                      workspace_id: "ws", runtime_id: "rt", provider: "claude"});
          for (let start = 0; start < 100000; start += 2000) {
            const messages = [];
            for (let n = start; n < start + 2000; n++) {
              const kind = kinds[n % kinds.length];
              const message = {seq: n + 1, type: kind};
              if (kind === "tool_use") Object.assign(message, {tool: "Bash", input: {command: `grep -n item${n} src/lib.rs`}});
              else if (kind === "tool_result") Object.assign(message, {tool: "Bash", output: `src/lib.rs:${n}: let item${n} = ${n};\n`.repeat(3)});
              else message.content = `Step **${n}**: looked at \`item${n}\` and moved on.`;
              messages.push(message);
            }
            await emit({type: "task_messages", task_id: "big-task-0001", messages});
          }
          done("ok");
        })().catch((error) => done(String(error)));
        """
    )
    assert fed == "ok", fed
    fed = time.monotonic() - started
    figures = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
        const until = async (check) => { while (!check()) await frame(); };
        (async () => {
          const t0 = performance.now();
          location.hash = "#/task/big-task-0001";
          await until(() => document.querySelector("#transcript .entry"));
          await frame();
          const firstRender = performance.now() - t0;
          const box = document.getElementById("transcript");
          const rendered = box.querySelectorAll(".entry").length;
          const lastShown = box.textContent.includes("item99999");
          // Jumps across the whole list, each until the rows are drawn.
          const jumps = [];
          for (let i = 0; i < 40; i++) {
            const target = ((i * 7919) % 40) / 40 * (box.scrollHeight - box.clientHeight);
            const t = performance.now();
            box.scrollTop = target;
            box.dispatchEvent(new Event("scroll"));
            await frame(); await frame();
            jumps.push(performance.now() - t);
          }
          // A smooth scroll of 200 steps of 120 px from the top, against the same
          // number of frames with nothing to do (this display's own frame time).
          box.scrollTop = 0; await frame(); await frame();
          const idle0 = performance.now();
          for (let i = 0; i < 50; i++) await frame();
          const idleFrame = (performance.now() - idle0) / 50;
          const s0 = performance.now();
          for (let i = 0; i < 200; i++) { box.scrollTop += 120; await frame(); }
          const smooth = (performance.now() - s0) / 200;
          // The window's own work per step (render, measure, lay out), without
          // waiting for the display: scroll, then let the view update.
          const work = [];
          for (let i = 0; i < 200; i++) {
            const t = performance.now();
            box.scrollTop += 120;
            box.dispatchEvent(new Event("scroll"));
            await new Promise((resolve) => setTimeout(resolve, 0));
            void box.querySelector(".entry").offsetHeight;
            work.push(performance.now() - t);
          }
          work.sort((a, b) => a - b);
          // Baseline on the same display: a plain scrolling box of the same size
          // holding 2,000 static lines (no virtualization, no work per step).
          const plain = document.createElement("div");
          plain.style.cssText = `position:fixed;left:${box.getBoundingClientRect().left}px;top:${box.getBoundingClientRect().top}px;width:${box.clientWidth}px;height:${box.clientHeight}px;overflow-y:auto;background:white;z-index:5`;
          for (let i = 0; i < 2000; i++) {
            const line = document.createElement("p");
            line.textContent = `Step ${i}: looked at item${i} and moved on.`;
            plain.append(line);
          }
          document.body.append(plain);
          await frame(); await frame();
          const p0 = performance.now();
          for (let i = 0; i < 200; i++) { plain.scrollTop += 120; await frame(); }
          const plainFrame = (performance.now() - p0) / 200;
          plain.remove();
          const maxRows = box.querySelectorAll(".entry").length;
          const t1 = performance.now();
          const search = document.getElementById("transcript-search");
          search.value = "item77777";
          search.dispatchEvent(new Event("input", {bubbles: true}));
          await until(() => (document.getElementById("search-count").textContent || "").includes("of"));
          await until(() => (document.querySelector("#transcript .entry.match") || {}).textContent?.includes("item77777"));
          const searchMs = performance.now() - t1;
          jumps.sort((a, b) => a - b);
          done({firstRender, rendered, lastShown, maxRows, searchMs, smoothFrameMs: smooth, idleFrameMs: idleFrame, plainScrollFrameMs: plainFrame,
                stepWorkMedianMs: work[work.length >> 1], stepWorkP95Ms: work[Math.floor(work.length * 0.95)],
                jumpMedianMs: jumps[jumps.length >> 1], jumpMaxMs: jumps[jumps.length - 1],
                searchCount: document.getElementById("search-count").textContent,
                domNodes: document.getElementsByTagName("*").length});
        })().catch((error) => done({error: String(error)}));
        """
    )
    figures["feedSeconds"] = round(fed, 2)
    (ARTIFACTS / "transcript-100k.json").write_text(json.dumps(figures, indent=2))
    print("100k transcript:", json.dumps(figures))
    assert "error" not in figures, figures
    assert figures["lastShown"], "it follows the end as events arrive"
    assert figures["rendered"] < 200 and figures["maxRows"] < 200, figures
    assert figures["searchCount"] == "1 of 1", figures
    assert figures["domNodes"] < 5000, figures
    shoot(driver, "transcript-100k")


def test_the_window_in_a_browser_reads_the_headless_daemon(world):
    """The headless daemon serves the window at /ui/ (read-only); with the control
    token the browser follows a task live over /events. MiniBrowser (WebKitGTK)
    driven by WebKitWebDriver."""
    server, seed, env = world["server"], world["seed"], dict(world["env"])
    env["MULTICA_TOKEN"] = seed["user"]["token"]
    env["MULTICA_UI_DIR"] = str(Path(__file__).resolve().parents[2] / "ui" / "dist")
    port = free_port()
    subprocess.run(
        [str(BIN / "multica"), "--server-url", server.url, "workspace", "watch", seed["workspace"]["id"]],
        env=env, check=True, capture_output=True, timeout=60,
    )
    daemon = subprocess.Popen(
        [str(BIN / "multica"), "daemon", "start", "--foreground", "--server-url", server.url,
         "--health-port", str(port)],
        env=env, stdout=open(ARTIFACTS / "browser-daemon.log", "w"), stderr=subprocess.STDOUT,
    )
    driver_port = free_port()
    webdriver_process = subprocess.Popen(
        ["/usr/bin/WebKitWebDriver", f"--port={driver_port}"],
        env=env, stdout=open(ARTIFACTS / "webkitwebdriver.log", "w"), stderr=subprocess.STDOUT,
    )
    driver = None
    try:
        def up(p):
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", p)) == 0

        wait_for("the daemon's local API", lambda: up(port), timeout=60)
        wait_for("WebKitWebDriver", lambda: up(driver_port), timeout=20)
        options = ArgOptions()
        options.set_capability("browserName", "MiniBrowser")
        options.set_capability(
            "webkitgtk:browserOptions",
            {"binary": "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser", "args": ["--automation"]},
        )
        driver = new_session(driver_port, options)
        driver.get(f"http://127.0.0.1:{port}/ui/")
        wait_for("the runtime", lambda: driver.find_element(By.CSS_SELECTOR, "tr[data-runtime-id]"), timeout=60)
        assert driver.find_element(By.ID, "browser-banner")
        assert not driver.find_elements(By.ID, "pause-button"), "read-only: no pause"
        nav = driver.find_element(By.CSS_SELECTOR, "header nav").text
        assert "Settings" not in nav and "Usage" in nav, nav

        # The control token unlocks transcripts and live events.
        control = (Path(env["HOME"]) / ".multica" / "daemon.control").read_text().strip()
        driver.find_element(By.ID, "control-token").send_keys(control)
        driver.find_element(By.CSS_SELECTOR, "#browser-banner button[type=submit]").click()
        wait_for("the unlocked banner", lambda: "Forget" in driver.find_element(By.ID, "browser-banner").text)
        driver.execute_script("location.hash = '#/tasks'")
        wait_for("the tasks view", lambda: driver.find_element(By.ID, "tasks-view"))
        time.sleep(1.0)  # the event stream connects

        workspace = seed["workspace"]["id"]
        runtime = wait_for(
            "a runtime",
            lambda: next((r for r in server.call("GET", "/dev/runtimes") if r["workspace_id"] == workspace), None),
        )
        agent = server.call("POST", "/dev/agents", {"workspace_id": workspace, "runtime_id": runtime["id"], "name": "Bea"})
        issue = server.call("POST", "/dev/issues", {"workspace_id": workspace, "title": "Seen from a browser"})
        task = server.call("POST", f"/dev/issues/{issue['id']}/assign", {"agent_id": agent["id"]})
        # No reload: the row arrives over /events.
        wait_for(
            "the task live in the browser",
            lambda: driver.find_element(By.CSS_SELECTOR, f"tr[data-task-id='{task['id']}'][data-status='completed']"),
            timeout=240, every=1,
        )
        assert not driver.find_elements(By.CSS_SELECTOR, "button.stop"), "read-only: no stop"
        driver.execute_script(f"location.hash = '#/task/{task['id']}'")
        wait_for(
            "the transcript in the browser",
            lambda: "Checked the multica CLI." in driver.find_element(By.ID, "transcript").text,
        )
        shoot(driver, "browser-transcript")
    finally:
        if driver is not None:
            quitting = threading.Thread(target=driver.quit, daemon=True)
            quitting.start()
            quitting.join(timeout=20)
        for process in (webdriver_process, daemon):
            process.terminate()
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
