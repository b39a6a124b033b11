//! Refuses to build on x86 without nasm.
//!
//! openh264-sys2 compiles OpenH264's assembly with nasm when it finds it and otherwise falls back,
//! silently, to plain C that encodes two to three times slower. Cargo hides that crate's output, so
//! a build machine without nasm would produce a Confer that drops frames, and nobody would know why.
//! Cargo gives no way to run before a dependency's build script, so this cannot stop that build;
//! instead it fails ours, and when nasm appears later it catches the plain-C build left behind.

use std::path::{Path, PathBuf};
use std::process::Command;

const FALLBACK_MARKER: &str = "Failed to compile NASM files, not using any assembly";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-env-changed=OPENH264_NO_ASM");

    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    // OPENH264_NO_ASM is openh264-sys2's own switch for a deliberate plain-C build.
    if arch != "x86_64" && arch != "x86" || std::env::var_os("OPENH264_NO_ASM").is_some() {
        return;
    }

    if !nasm_runs() {
        fail(&[
            "nasm was not found on PATH.",
            "OpenH264 needs it for its x86 assembly; without it video encoding is 2-3x slower.",
            "Install it (Debian/Ubuntu: `apt-get install nasm`, macOS: `brew install nasm`,",
            "Windows: `winget install nasm` and add it to PATH), then rebuild OpenH264 with",
            "`cargo clean -p openh264-sys2` before building again. scripts/run and scripts/test",
            "install it for you on Debian and Ubuntu.",
        ]);
    }

    if let Some(output) = plain_c_openh264_build() {
        let line = format!(
            "OpenH264 was built earlier without its assembly (see {}).",
            output.display()
        );
        fail(&[
            &line,
            "nasm is there now; rebuild OpenH264 with `cargo clean -p openh264-sys2`,",
            "then build again.",
        ]);
    }
}

fn nasm_runs() -> bool {
    let nasm = std::env::var_os("NASM").unwrap_or_else(|| "nasm".into());
    Command::new(nasm)
        .arg("-v")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Finds the newest finished openh264-sys2 build of this profile and tells whether it fell back to
/// plain C. Build scripts of one profile share `target/<profile>/build/`, and each leaves its
/// stdout in `<crate>-<hash>/output`.
fn plain_c_openh264_build() -> Option<PathBuf> {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR")?);
    let build_dir = out_dir.parent()?.parent()?;
    let newest = std::fs::read_dir(build_dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("openh264-sys2-")
        })
        .map(|entry| entry.path().join("output"))
        .filter_map(|output| Some((modified(&output)?, output)))
        .max()?
        .1;
    let text = std::fs::read_to_string(&newest).ok()?;
    text.contains(FALLBACK_MARKER).then_some(newest)
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).ok()?.modified().ok()
}

fn fail(lines: &[&str]) -> ! {
    for line in lines {
        println!("cargo:warning={line}");
    }
    eprintln!("\nerror: {}", lines.join("\n       "));
    std::process::exit(1);
}
