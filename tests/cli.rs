//! The command line as a user meets it: help texts, errors, exit codes.

mod support;

use support::{confer, run, stderr, stdout};

#[test]
fn help_describes_every_command() {
    let home = tempfile::tempdir().unwrap();
    let out = run(confer(home.path()).arg("--help"));
    assert!(out.status.success());
    let text = stdout(&out);
    for expected in [
        "Usage:",
        "[LINK]",
        "serve",
        "join",
        "devices",
        "--quit-after",
        "-v",
    ] {
        assert!(
            text.contains(expected),
            "--help lacks {expected:?}:\n{text}"
        );
    }
}

#[test]
fn each_command_has_its_own_help() {
    let home = tempfile::tempdir().unwrap();
    for (command, expected) in [
        ("serve", "--listen"),
        ("serve", "--secret-file"),
        ("join", "--headless"),
        ("join", "--stats"),
        ("devices", "microphones"),
    ] {
        let out = run(confer(home.path()).args([command, "--help"]));
        assert!(out.status.success(), "{command} --help failed");
        let text = stdout(&out);
        assert!(
            text.contains(expected),
            "{command} --help lacks {expected:?}:\n{text}"
        );
    }
}

#[test]
fn version_is_printed() {
    let home = tempfile::tempdir().unwrap();
    let out = run(confer(home.path()).arg("--version"));
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim(),
        format!("confer {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn devices_without_devices_says_so_and_succeeds() {
    let home = tempfile::tempdir().unwrap();
    let out = run(confer(home.path()).arg("devices"));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    for section in ["Cameras", "Microphones", "Speakers"] {
        assert!(text.contains(section), "no {section} section:\n{text}");
    }
    // No PulseAudio here (the test removed its socket), so the ALSA host answers.
    assert!(text.contains("Speakers (ALSA)"), "{text}");
    let has_camera_nodes = std::fs::read_dir("/dev")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().starts_with("video"))
        })
        .unwrap_or(false);
    if !has_camera_nodes {
        assert!(text.contains("Cameras:\n  no camera found\n"), "{text}");
    }
}

/// One line on stderr starting with "error:", and exit code 2.
fn assert_usage_error(args: &[&str], expected: &str) {
    let home = tempfile::tempdir().unwrap();
    let out = run(confer(home.path()).args(args));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: not one line: {err}"
    );
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert!(err.contains(expected), "{args:?}: {err} lacks {expected:?}");
    assert!(stdout(&out).is_empty(), "{args:?} printed to stdout");
}

#[test]
fn an_unknown_command_is_a_usage_error() {
    assert_usage_error(&["frobnicate"], "'frobnicate' is neither a command");
}

#[test]
fn an_unknown_option_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let out = run(confer(home.path()).args(["devices", "--no-such-option"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--no-such-option"));
}

#[test]
fn malformed_links_are_one_line_errors_with_exit_code_2() {
    assert_usage_error(&["ftp://example.org/j/room"], "unknown scheme \"ftp\"");
    assert_usage_error(&["https://example.org/x/room"], "is not a meeting");
    assert_usage_error(&["confer://example.org/bad%20room"], "bad room name");
    assert_usage_error(&["confer:///room"], "no host");
    assert_usage_error(
        &[
            "join",
            "--headless",
            "https://bank.example@evil.example/j/r",
        ],
        "user name or password",
    );
    assert_usage_error(&["join", "--headless", "example.org/room"], "no scheme");
}

#[test]
fn share_for_needs_a_share_and_seconds() {
    let home = tempfile::tempdir().unwrap();
    let link = "confer://example.org/room";
    let out = run(confer(home.path()).args(["join", "--headless", link, "--share-for", "5"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--share"), "{}", stderr(&out));
    assert_usage_error(
        &[
            "join",
            "--headless",
            link,
            "--share",
            "screen",
            "--share-for",
            "0",
        ],
        "--share-for 0: give a number of seconds above 0",
    );
}

#[test]
fn join_needs_headless() {
    assert_usage_error(&["join", "confer://example.org/room"], "--headless");
}

#[test]
fn joining_a_server_nobody_runs_fails_with_one_line() {
    let home = tempfile::tempdir().unwrap();
    // A port nothing listens on: the client gives up after its attempts, in about 8 s.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let link = format!("confer://127.0.0.1:{port}/room?insecure=1");
    let out = run(confer(home.path()).args([
        "join",
        "--headless",
        &link,
        "--camera",
        "off",
        "--mic",
        "off",
        "--duration",
        "30",
    ]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{err}");
    assert!(last.contains("connect") || last.contains("reach"), "{err}");
}

#[cfg(all(feature = "gui", target_os = "linux"))]
#[test]
fn the_app_without_a_display_fails_with_a_clear_reason() {
    let home = tempfile::tempdir().unwrap();
    let out = run(confer(home.path()).env_remove("DISPLAY"));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no display"), "{err}");
    assert!(err.contains("--headless"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[cfg(all(feature = "gui", unix))]
#[test]
fn an_unwritable_data_dir_costs_only_the_log_file() {
    let home = tempfile::tempdir().unwrap();
    // A file where the data directory should be: the log directory cannot be created.
    std::fs::write(home.path().join("data"), "not a directory").unwrap();
    let out = run(confer(home.path()).env_remove("DISPLAY"));
    let err = stderr(&out);
    assert!(err.contains("cannot create the log directory"), "{err}");
    // It went on to the window, which fails here for want of a display, not for the log.
    assert!(err.contains("no display"), "{err}");
}
