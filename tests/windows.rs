#![cfg(target_os = "linux")]

//! confer.exe, the Windows build, run by Debian's 64-bit Wine: the binary scripts/build-windows
//! cross-builds (the test command runs it first), in Wine prefixes of the tests' own.
//!
//! Wine is not Windows. What it runs here: the command line, the signaling server, a headless
//! call (synthetic camera and tone; Wine has no Media Foundation camera, and its audio is not
//! WASAPI's), the installer and the hand-off of a link to the running app. What Windows has and
//! Wine lacks is in the README (Windows under Wine).
//!
//! Debian's Wine 8 lacks `bcryptprimitives.dll`, whose `ProcessPrng` Rust's standard library
//! calls for random numbers: each prefix gets a stand-in built from tests/windows (never
//! shipped with the app).
//!
//! A program's exit code is read as Windows reports it, from a waiter built from
//! tests/windows/exitcode.c, never from the Linux status of `wine`: Wine kills (SIGKILL) a
//! program's Linux process that lingers about half a second after its last thread ended, which
//! a busy machine sees now and then, so "signal 9" can stand for a program that exited 0.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::browser::{Browser, NetNs, RECEIVED};
use support::serve::Serve;
use support::{Owned, confer, join_synthetic, require_tool};

/// Wine and a call fill both cores: one test at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const ROOM: &str = "wine";
const CALL_SECONDS: u32 = 20;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// What scripts/build-windows built.
fn windows_exe() -> PathBuf {
    let exe = target_dir().join("x86_64-pc-windows-gnu/release/confer.exe");
    assert!(
        exe.is_file(),
        "{} is missing: run scripts/build-windows (scripts/test does)",
        exe.display()
    );
    exe
}

fn installer() -> PathBuf {
    let dir = target_dir().join("windows");
    std::fs::read_dir(&dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("Confer-") && n.ends_with("-setup.exe"))
        })
        .unwrap_or_else(|| {
            panic!(
                "no installer in {}: run scripts/build-windows (scripts/test does)",
                dir.display()
            )
        })
}

/// A Unix path as a Windows program under Wine names it (Wine's drive Z: is /).
fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// A Wine prefix of the test's own, with the stand-in DLL and the waiter; its wineserver and
/// every process in it are stopped when dropped.
struct Wine {
    prefix: tempfile::TempDir,
    display: Option<String>,
    /// Programs run through the waiter so far: each gets a file of its own for its code.
    waited: AtomicUsize,
}

/// Where the waiter (tests/windows/exitcode.c) writes the code of the program it ran.
const EXIT_CODE_FILE: &str = "CONFER_TEST_EXIT_CODE";

impl Wine {
    fn new(display: Option<&str>) -> Wine {
        require_tool("wine", "wine");
        require_tool("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64");
        // Making a prefix fails now and then on a busy machine ("could not load kernel32.dll",
        // once in about thirty here, with the other Wine tests running beside it): a fresh
        // prefix is made once more before the test gives up.
        let mut tries = 0;
        let wine = loop {
            tries += 1;
            let wine = Wine {
                prefix: tempfile::tempdir().expect("a directory for the Wine prefix"),
                display: display.map(str::to_string),
                waited: AtomicUsize::new(0),
            };
            let out = wine
                .tool("wineboot")
                .arg("--init")
                .output()
                .expect("cannot run wineboot");
            if out.status.success() {
                break wine;
            }
            let why = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(tries < 2, "wineboot failed twice, the last time: {why}");
            eprintln!("wineboot failed ({why}); once more in a fresh prefix");
        };
        let system32 = wine.prefix.path().join("drive_c/windows/system32");
        assert!(system32.is_dir(), "wineboot made no system32");
        let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/windows");
        mingw_build(
            &system32.join("bcryptprimitives.dll"),
            &[
                "-shared".as_ref(),
                sources.join("bcryptprimitives.c").as_os_str(),
                sources.join("bcryptprimitives.def").as_os_str(),
                "-ladvapi32".as_ref(),
            ],
        );
        mingw_build(&wine.waiter(), &[sources.join("exitcode.c").as_os_str()]);
        wine
    }

    /// The waiter's place in the prefix.
    fn waiter(&self) -> PathBuf {
        self.prefix.path().join("exitcode.exe")
    }

    /// A Wine tool (wine, wineboot, wineserver) for this prefix, quiet, without the .NET and
    /// web engine installs a new prefix would offer.
    fn tool(&self, name: &str) -> Command {
        let mut cmd = Command::new(name);
        cmd.env("WINEPREFIX", self.prefix.path())
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .stdin(Stdio::null());
        match &self.display {
            Some(display) => cmd.env("DISPLAY", display),
            None => cmd.env_remove("DISPLAY"),
        };
        cmd
    }

    /// `program` (a Windows .exe) under Wine, with Confer's files in `home`, as
    /// [`support::confer`] sets it up on Linux: for a program the test ends itself.
    fn run(&self, program: &Path, home: &Path) -> Command {
        let mut cmd = self.tool("wine");
        cmd.arg(program);
        with_home(&mut cmd, home);
        cmd
    }

    /// `program` (as Windows names it) under Wine through the waiter, so that [`exit_code`]
    /// can tell how it ended.
    fn waited(&self, program: &str) -> Command {
        let run = self.waited.fetch_add(1, Ordering::Relaxed);
        let code = self.prefix.path().join(format!("exit-code-{run}"));
        let mut cmd = self.tool("wine");
        cmd.arg(self.waiter())
            .arg(program)
            .env(EXIT_CODE_FILE, windows_path(&code));
        cmd
    }

    /// `confer.exe` under Wine, for a run the test ends itself.
    fn confer(&self, home: &Path) -> Command {
        self.run(&windows_exe(), home)
    }

    /// `confer.exe` under Wine through the waiter: for a run that ends by itself.
    fn confer_waited(&self, home: &Path) -> Command {
        let mut cmd = self.waited(&windows_path(&windows_exe()));
        with_home(&mut cmd, home);
        cmd
    }

    /// The Windows user's folders in the prefix (`drive_c/users/NAME`).
    fn user_dir(&self) -> PathBuf {
        let users = self.prefix.path().join("drive_c/users");
        std::fs::read_dir(&users)
            .expect("the prefix has users")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n != "Public"))
            .expect("the prefix has a user")
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        let _ = self.tool("wineserver").arg("-k").status();
        let _ = self.tool("wineserver").arg("-w").status();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Builds `output` (a Windows .exe or .dll) from `args` with MinGW-w64.
fn mingw_build(output: &Path, args: &[&std::ffi::OsStr]) {
    let built = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-O2", "-s", "-o"])
        .arg(output)
        .args(args)
        .status()
        .expect("cannot run x86_64-w64-mingw32-gcc");
    assert!(built.success(), "{} did not build", output.display());
}

/// Confer's files in `home`, as [`support::confer`] sets them up on Linux.
fn with_home(cmd: &mut Command, home: &Path) {
    cmd.env("CONFER_CONFIG_DIR", windows_path(&home.join("config")))
        .env("CONFER_DATA_DIR", windows_path(&home.join("data")))
        .env_remove("RUST_LOG");
}

/// The exit code of the program `cmd` ran through the waiter ([`Wine::waited`]), as Windows
/// reports it; `None` while it has not ended, or if the waiter could not tell.
fn exit_code(cmd: &Command) -> Option<u32> {
    let (_, file) = cmd.get_envs().find(|(name, _)| *name == EXIT_CODE_FILE)?;
    let file = file?.to_str()?.strip_prefix("Z:")?.replace('\\', "/");
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// How a program run through the waiter ended.
struct Ended {
    code: Option<u32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd`, made by [`Wine::waited`], to its end.
fn run_to_end(cmd: &mut Command) -> Ended {
    let out = cmd.output().expect("cannot run wine");
    Ended {
        code: exit_code(cmd),
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
    }
}

#[test]
fn confer_exe_answers_help_and_refuses_a_bad_link() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let wine = Wine::new(None);
    let home = tempfile::tempdir().unwrap();

    let out = run_to_end(wine.confer_waited(home.path()).arg("--help"));
    assert_eq!(out.code, Some(0), "--help: {}", out.stderr);
    let help = out.stdout;
    for command in ["serve", "join", "devices"] {
        assert!(
            help.contains(command),
            "--help does not name {command}: {help}"
        );
    }

    for args in [
        &[
            "join",
            "confer://meet.example.org/bad room#t=tok",
            "--headless",
        ][..],
        &["javascript:alert(1)"][..],
    ] {
        let out = run_to_end(wine.confer_waited(home.path()).args(args));
        let stderr = out.stderr;
        assert_eq!(out.code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("invalid invite link"), "{args:?}: {stderr}");
    }

    // A wss:// link (nothing listens there): under Wine the platform's certificate verifier
    // cannot be set up, and that is a sentence and exit 1, not a panic (README: Windows).
    let out = run_to_end(
        wine.confer_waited(home.path())
            .args(["join", "confer://127.0.0.1:9/room#t=tok", "--headless"])
            .args([
                "--camera",
                "test-pattern",
                "--mic",
                "tone",
                "--duration",
                "5",
            ]),
    );
    let stderr = out.stderr;
    assert_eq!(out.code, Some(1), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `confer.exe serve` under Wine, listening on loopback.
struct WineServe {
    addr: String,
    _process: Owned,
}

impl WineServe {
    fn start(wine: &Wine, home: &Path) -> WineServe {
        let mut child = wine
            .confer(home)
            .args(["serve", "--listen", "127.0.0.1:0", "--open"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start confer.exe serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let process = Owned(child);
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("confer.exe serve printed nothing");
        let addr = line
            .trim()
            .strip_prefix("listening on ws://")
            .and_then(|rest| rest.strip_suffix("/ws"))
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        WineServe {
            addr,
            _process: process,
        }
    }
}

/// Waits for a participant to end by itself and returns its last stats line about each
/// remote, by name.
fn finish(home: &Path, participant: Owned, name: &str) -> HashMap<String, Value> {
    support::finish_call(home, participant, name, Duration::from_secs(60))
}

/// [`finish`] for confer.exe, started by `cmd` through the waiter: it must have exited 0 as
/// Windows reports it.
fn finish_windows(
    home: &Path,
    mut participant: Owned,
    cmd: &Command,
    name: &str,
) -> HashMap<String, Value> {
    let (_, stderr) = participant
        .wait_with_stderr(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("{name} did not end"));
    assert_eq!(exit_code(cmd), Some(0), "{name} failed:\n{stderr}");
    support::last_stats_by_name(&home.join(format!("{name}.jsonl")))
}

/// What a participant must have had from another (`about`) over a call of `seconds`: a
/// connection, H.264 pictures at the synthetic camera's size, and sound.
fn check_saw(seen: &HashMap<String, Value>, who: &str, about: &str, seconds: f64) {
    let line = seen
        .get(about)
        .unwrap_or_else(|| panic!("{who} has no stats about {about}: {seen:?}"));
    let context = format!("{who} about {about}: {line}");
    assert_eq!(line["state"], "connected", "{context}");
    assert_eq!(line["codec_video"], "H264", "{context}");
    assert!(
        line["width_in"].as_u64().is_some_and(|w| w > 0),
        "{context}"
    );
    let frames = line["frames_decoded"].as_u64().unwrap_or(0);
    assert!(frames as f64 >= 5.0 * seconds, "{context}");
    let audio = line["audio_packets_in"].as_u64().unwrap_or(0);
    assert!(audio as f64 >= 40.0 * seconds, "{context}");
}

#[test]
fn confer_exe_serves_a_meeting_of_linux_participants_and_a_browser_guest() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _ns = NetNs::enter();
    let wine = Wine::new(None);
    let home = tempfile::tempdir().unwrap();
    let server = WineServe::start(&wine, home.path());

    let mut browser = Browser::start(&home.path().join("browser.log"));
    let page = format!("http://{}/j/{ROOM}?name=Ann", server.addr);
    browser.open("ann", &page);
    browser.click("ann", "#join");
    browser.wait_for("ann", "window.confer.id", Duration::from_secs(20), "joined");

    let link = format!("confer://{}/{ROOM}?insecure=1", server.addr);
    let ends = Instant::now() + Duration::from_secs(CALL_SECONDS.into());
    let linus = join_synthetic(
        confer(home.path()),
        home.path(),
        &link,
        "linus",
        CALL_SECONDS,
    );
    let tux = join_synthetic(confer(home.path()), home.path(), &link, "tux", CALL_SECONDS);
    browser.wait_for(
        "ann",
        &format!(
            "{RECEIVED}.then(r => r.linus && r.tux && r.linus.frames > 0 && r.tux.frames > 0)"
        ),
        Duration::from_secs(20),
        "no pictures from the Linux participants through confer.exe's meeting",
    );
    std::thread::sleep(
        ends.saturating_duration_since(Instant::now())
            .saturating_sub(Duration::from_secs(2)),
    );
    let received = browser.eval("ann", RECEIVED);
    let linus_saw = finish(home.path(), linus, "linus");
    let tux_saw = finish(home.path(), tux, "tux");

    let seconds = f64::from(CALL_SECONDS) - 8.0;
    check_saw(&linus_saw, "linus", "tux", seconds);
    check_saw(&tux_saw, "tux", "linus", seconds);
    for (who, saw) in [("linus", &linus_saw), ("tux", &tux_saw)] {
        let ann = saw
            .get("Ann")
            .unwrap_or_else(|| panic!("{who} has no stats about the browser guest"));
        assert_eq!(ann["state"], "connected", "{who} about Ann: {ann}");
        assert!(
            ann["frames_decoded"].as_u64().unwrap_or(0) as f64 >= 5.0 * seconds,
            "{who} about Ann: {ann}"
        );
    }
    for name in ["linus", "tux"] {
        let seen = &received[name];
        assert_eq!(
            seen["state"], "connected",
            "the browser about {name}: {received}"
        );
        assert!(
            seen["frames"].as_u64().unwrap_or(0) as f64 >= 5.0 * seconds,
            "the browser about {name}: {received}"
        );
        assert!(
            seen["samples"].as_u64().unwrap_or(0) as f64 >= 30_000.0 * seconds,
            "the browser about {name}: {received}"
        );
    }
}

#[test]
fn confer_exe_joins_a_call_with_a_linux_participant() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _ns = NetNs::enter();
    let wine = Wine::new(None);
    let home = tempfile::tempdir().unwrap();
    let server = Serve::start(home.path(), &["--open"]);
    let link = format!("confer://{}/{ROOM}?insecure=1", server.addr);

    // Its stats file, named as Windows names it.
    let mut windows = wine.confer_waited(home.path());
    windows
        .args(["join", &link, "--headless", "--name", "win"])
        .args(["--camera", "test-pattern", "--mic", "tone"])
        .args(["--duration", &CALL_SECONDS.to_string()])
        .arg("--stats")
        .arg(windows_path(&home.path().join("win.jsonl")))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let win = Owned(windows.spawn().expect("cannot start confer.exe join"));
    let linus = join_synthetic(
        confer(home.path()),
        home.path(),
        &link,
        "linus",
        CALL_SECONDS,
    );

    let win_saw = finish_windows(home.path(), win, &windows, "win");
    let linus_saw = finish(home.path(), linus, "linus");
    let seconds = f64::from(CALL_SECONDS) - 8.0;
    check_saw(&win_saw, "confer.exe", "linus", seconds);
    check_saw(&linus_saw, "linus", "win", seconds);
}

/// The title of the X window named Confer (the app's window under Wine), if there is one.
fn confer_window_title(display: &str) -> Option<String> {
    let out = Command::new("xdotool")
        .args(["search", "--name", "^Confer", "getwindowname", "%@"])
        .env("DISPLAY", display)
        .output()
        .ok()?;
    let titles = text(&out.stdout);
    titles.lines().next().map(str::to_string)
}

fn wait_for_title(display: &str, title: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let now = confer_window_title(display);
        if now.as_deref() == Some(title) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no window titled {title:?} within {limit:?} (last: {now:?})"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `reg query KEY` in the prefix: the default value's data.
fn registry_default(wine: &Wine, key: &str) -> Option<String> {
    let out = wine
        .tool("wine")
        .args(["reg", "query", key])
        .output()
        .ok()?;
    let listing = text(&out.stdout);
    listing
        .lines()
        .find_map(|line| line.trim().strip_prefix("(Default)"))
        .and_then(|rest| rest.trim().strip_prefix("REG_SZ"))
        .map(|data| data.trim().to_string())
}

/// A command line as the registry holds it, `"PROGRAM" "%1"`, with `%1` given: the program
/// and its arguments, as Windows' shell would start them.
fn shell_command(registered: &str, link: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = registered.trim();
    while !rest.is_empty() {
        let (part, after) = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
            None => rest.split_once(' ').unwrap_or((rest, "")),
        };
        parts.push(part.replace("%1", link));
        rest = after.trim_start();
    }
    parts
}

#[test]
fn the_installer_registers_confer_links_and_a_link_reaches_the_running_app() {
    require_tool("xdotool", "xdotool");
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let xvfb = support::xvfb::Xvfb::start((1280, 800));
    let wine = Wine::new(Some(&xvfb.display));
    let home = tempfile::tempdir().unwrap();

    // A silent install (/S) for this user, as a click through its pages does.
    let out = run_to_end(wine.waited(&windows_path(&installer())).arg("/S"));
    assert_eq!(out.code, Some(0), "the installer failed: {}", out.stderr);
    let user = wine.user_dir();
    let installed = user.join("AppData/Local/Programs/Confer/confer.exe");
    assert!(installed.is_file(), "no {}", installed.display());
    let start_menu = user.join("AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Confer.lnk");
    assert!(
        start_menu.is_file(),
        "no Start menu entry at {}",
        start_menu.display()
    );
    let protocol = r"HKCU\Software\Classes\confer";
    assert_eq!(
        registry_default(&wine, protocol).as_deref(),
        Some("URL:Confer meeting link")
    );
    let registered = registry_default(&wine, &format!(r"{protocol}\shell\open\command"))
        .expect("no command registered for confer:// links");

    // The installed app, as the Start menu starts it.
    let mut app = Owned(
        wine.run(&installed, home.path())
            .args(["--camera", "off", "--mic", "off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start the installed confer.exe"),
    );
    wait_for_title(&xvfb.display, "Confer", Duration::from_secs(60));

    // A click on a link: Windows' shell runs the registered command with the link for %1
    // (Wine's shell does not look in the user's own classes, HKCU\Software\Classes, so the test
    // runs that command itself). The second start hands the link over and exits; the running
    // app shows pre-join for the meeting.
    let link = "confer://meet.example.org/standup#t=tok";
    let command = shell_command(&registered, link);
    assert_eq!(command.len(), 2, "{registered}");
    assert_eq!(command[1], link, "{registered}");
    let mut second = wine.waited(&command[0]);
    with_home(&mut second, home.path());
    let out = run_to_end(second.args(&command[1..]));
    let stderr = out.stderr;
    assert_eq!(out.code, Some(0), "{stderr}");
    assert!(stderr.contains("already running"), "{stderr}");
    wait_for_title(
        &xvfb.display,
        "Confer · standup on meet.example.org",
        Duration::from_secs(20),
    );
    assert!(
        app.0.try_wait().unwrap().is_none(),
        "the running app exited"
    );
}

#[test]
fn a_registered_command_is_split_as_the_shell_splits_it() {
    assert_eq!(
        shell_command(
            r#""C:\Program Files\Confer\confer.exe" "%1""#,
            "confer://h/r#t=a b"
        ),
        [r"C:\Program Files\Confer\confer.exe", "confer://h/r#t=a b"]
    );
    assert_eq!(shell_command("prog %1", "x"), ["prog", "x"]);
}

/// confer.exe under Wine shares its screen (Wine's desktop is the X server's, showing the
/// test's document): GDI's pictures go through the screen encoder to a Linux participant, and
/// the picture it keeps holds the document's text where it is on the screen.
#[test]
fn confer_exe_shares_its_screen_and_a_linux_participant_reads_the_text() {
    use support::document::{document, document_psnr, read_ppm, show_document};
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const SCREEN: (usize, usize) = (1280, 720);
    let xvfb = support::xvfb::Xvfb::start(SCREEN);
    let (conn, _) = x11rb::connect(Some(&xvfb.display)).expect("cannot reach Xvfb");
    let pixels = document([200, 90, 30, 0]);
    let _window = show_document(&conn, &pixels);
    let wine = Wine::new(Some(&xvfb.display));
    let home = tempfile::tempdir().unwrap();
    let server = Serve::start(home.path(), &["--open"]);
    let link = format!("confer://{}/{ROOM}?insecure=1", server.addr);

    // What confer.exe can share here, as `confer devices` lists it.
    let out = run_to_end(wine.confer_waited(home.path()).arg("devices"));
    let devices = out.stdout;
    assert_eq!(out.code, Some(0), "{devices}{}", out.stderr);
    assert!(devices.contains("screen:1"), "{devices}");

    let mut windows = wine.confer(home.path());
    windows
        .args(["join", &link, "--headless", "--name", "win"])
        .args([
            "--camera",
            "test-pattern:320x180",
            "--mic",
            "tone",
            "--share",
            "screen:1",
        ])
        .args(["--duration", "120"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut win = Owned(windows.spawn().expect("cannot start confer.exe join"));
    let saved = home.path().join("bob-share.ppm");
    let mut bob = support::join_with(
        confer(home.path()),
        home.path(),
        &link,
        "bob",
        120,
        &[
            "--camera",
            "test-pattern:320x180",
            "--save-share",
            saved.to_str().unwrap(),
        ],
    );

    // Until Bob has decoded a few seconds of the share (his stats, each second).
    let stats = home.path().join("bob.jsonl");
    let last = support::stats_until(&stats, "win", Duration::from_secs(60), |line| {
        line["screen_frames_decoded"].as_u64().unwrap_or(0) >= 10
    });
    assert!(
        last["screen_frames_decoded"].as_u64().unwrap_or(0) >= 10,
        "bob about confer.exe: {last}; confer.exe: {:?}",
        win.0.try_wait()
    );
    assert_eq!(
        (
            last["screen_width_in"].as_u64(),
            last["screen_height_in"].as_u64()
        ),
        (Some(SCREEN.0 as u64), Some(SCREEN.1 as u64)),
        "{last}"
    );
    // Its camera goes on beside the share.
    assert_eq!(last["width_in"], 320, "{last}");
    bob.signal("TERM");
    let (status, stderr) = bob
        .wait_with_stderr(Duration::from_secs(30))
        .expect("bob did not end");
    assert!(status.success(), "bob: {stderr}");
    let ((width, height), rgb) = read_ppm(&saved);
    assert_eq!((width, height), SCREEN);
    let psnr = document_psnr(&pixels, &rgb, width);
    eprintln!("the document in bob's picture of confer.exe's screen: {psnr:.1} dB");
    assert!(psnr > 28.0, "the text did not arrive: {psnr:.1} dB");
}
