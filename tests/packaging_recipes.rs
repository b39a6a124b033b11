//! The installers' recipes for the platforms these machines cannot run (their CI runners build
//! them: .github/workflows/installers.yml): what each must declare is there, and the Windows
//! installer script compiles with the real NSIS. The Linux package is installed for real by
//! tests/packaging/deb_in_debootstrap.sh.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::require_tool;

fn recipe(path: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

/// The value after `<key>KEY</key>` in a property list, as written (the next element).
fn plist_value<'a>(plist: &'a str, key: &str) -> Option<&'a str> {
    let after = plist
        .split_once(&format!("<key>{key}</key>"))?
        .1
        .trim_start();
    let end = if after.starts_with("<array>") {
        after.find("</array>")? + "</array>".len()
    } else if after.starts_with("<true/>") {
        "<true/>".len()
    } else {
        after.find("</string>")? + "</string>".len()
    };
    Some(&after[..end])
}

#[test]
fn the_macos_bundle_asks_for_camera_and_microphone_and_claims_confer_links() {
    let (_, plist) = recipe("packaging/macos/Info.plist");
    for key in ["NSCameraUsageDescription", "NSMicrophoneUsageDescription"] {
        let value = plist_value(&plist, key).unwrap_or_else(|| panic!("no {key}"));
        // macOS shows the sentence when it asks; an empty one gets the app killed on access.
        assert!(
            value.len() > "<string></string>".len() + 20,
            "{key}: {value}"
        );
    }
    let types = plist_value(&plist, "CFBundleURLTypes").expect("no CFBundleURLTypes");
    let schemes = plist_value(types, "CFBundleURLSchemes").expect("no CFBundleURLSchemes");
    assert!(schemes.contains("<string>confer</string>"), "{schemes}");
    assert_eq!(
        plist_value(&plist, "CFBundleExecutable"),
        Some("<string>confer</string>")
    );
    assert_eq!(
        plist_value(&plist, "CFBundleIdentifier"),
        Some("<string>app.confer.Confer</string>")
    );
    // The signature must ask for what the usage strings describe (hardened runtime).
    let (_, entitlements) = recipe("packaging/macos/confer.entitlements");
    for key in [
        "com.apple.security.device.camera",
        "com.apple.security.device.audio-input",
    ] {
        assert_eq!(plist_value(&entitlements, key), Some("<true/>"), "{key}");
    }
}

#[test]
fn the_windows_installer_registers_confer_links_quoted_and_compiles() {
    let (script, nsi) = recipe("packaging/windows/confer.nsi");
    // The command line Windows runs for a link: both parts quoted.
    assert!(
        nsi.contains(r#"WriteRegStr HKCU "${PROTOCOL_KEY}\shell\open\command" "" '"$INSTDIR\confer.exe" "%1"'"#),
        "the open command is not quoted as it must be"
    );
    assert!(nsi.contains(r#"!define PROTOCOL_KEY "Software\Classes\confer""#));
    assert!(nsi.contains(r#""URL Protocol" """#));
    assert!(nsi.contains(r#"CreateShortcut "$SMPROGRAMS\Confer.lnk""#));

    // NSIS compiles it (a stand-in file for confer.exe: the script, not the program, is
    // under test here; the CI runner packs the real one).
    require_tool("makensis", "nsis");
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("confer.exe");
    std::fs::write(&binary, b"MZ stand-in").unwrap();
    let icons = dir.path().join("icons");
    let rendered = Command::new("cargo")
        .args(["run", "--quiet", "--release", "--locked", "--manifest-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/icons/Cargo.toml"))
        .arg("--")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/confer.svg"))
        .arg(&icons)
        // Its own target dir: the one of the cargo running this test may be locked.
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/packaging-icons"),
        )
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(rendered.success());
    let installer = dir.path().join("setup.exe");
    let out = Command::new("makensis")
        .arg("-V2")
        .arg("-DVERSION=0.0.0")
        .arg(format!("-DBINARY={}", binary.display()))
        .arg(format!("-DICON={}", icons.join("confer.ico").display()))
        .arg(format!("-DOUTFILE={}", installer.display()))
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "makensis: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let exe = std::fs::read(&installer).unwrap();
    assert!(
        exe.starts_with(b"MZ") && exe.len() > 30_000,
        "{} bytes",
        exe.len()
    );
}
