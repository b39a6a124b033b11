//! Refuses to build on x86 without nasm.
//!
//! openh264-sys2 compiles OpenH264's assembly with nasm when it finds it and otherwise falls back,
//! silently, to plain C that encodes two to three times slower. Cargo hides that crate's output, so
//! a build machine without nasm would produce a Confer that drops frames, and nobody would know why.
//! Cargo gives no way to run before a dependency's build script, so this cannot stop that build;
//! instead it fails ours, and when nasm appears later it catches the plain-C build left behind.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const FALLBACK_MARKER: &str = "Failed to compile NASM files, not using any assembly";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-env-changed=NASM");
    println!("cargo:rerun-if-env-changed=OPENH264_NO_ASM");

    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let deliberate_plain_c = std::env::var_os("OPENH264_NO_ASM").is_some();
    let out_dir = std::env::var_os("OUT_DIR").map(PathBuf::from);
    if let Err(lines) = check_nasm(&arch, deliberate_plain_c, nasm_runs(), out_dir.as_deref()) {
        // Cargo shows a failed build script's stderr in full.
        eprintln!("\nerror: {}", lines.join("\n       "));
        std::process::exit(1);
    }
}

/// Decides whether the build may go on; the lines say what to do when it may not.
/// `OPENH264_NO_ASM` is openh264-sys2's own switch for a deliberate plain-C build.
pub fn check_nasm(
    arch: &str,
    deliberate_plain_c: bool,
    nasm_runs: bool,
    out_dir: Option<&Path>,
) -> Result<(), Vec<String>> {
    if arch != "x86_64" && arch != "x86" || deliberate_plain_c {
        return Ok(());
    }
    if !nasm_runs {
        return Err([
            "nasm was not found on PATH.",
            "OpenH264 needs it for its x86 assembly; without it video encoding is 2-3x slower.",
            "Install it (Debian/Ubuntu: `apt-get install nasm`, macOS: `brew install nasm`,",
            "Windows: `winget install nasm` and add it to PATH), then rebuild OpenH264 with",
            "`cargo clean -p openh264-sys2` before building again. scripts/run and scripts/test",
            "install it for you on Debian and Ubuntu.",
        ]
        .map(String::from)
        .to_vec());
    }
    if let Some(output) = out_dir.and_then(plain_c_openh264_build) {
        return Err(vec![
            format!(
                "OpenH264 was built earlier without its assembly (see {}).",
                output.display()
            ),
            "nasm is there now; rebuild OpenH264 with `cargo clean -p openh264-sys2`,".into(),
            "then build again.".into(),
        ]);
    }
    Ok(())
}

pub fn nasm_runs() -> bool {
    let nasm = std::env::var_os("NASM").unwrap_or_else(|| "nasm".into());
    Command::new(nasm)
        .arg("-v")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Finds the newest finished openh264-sys2 build of this profile and tells whether it fell back to
/// plain C. Build scripts of one profile share `target/<profile>/build/`, and each leaves its
/// stdout in `<crate>-<hash>/output`.
fn plain_c_openh264_build(out_dir: &Path) -> Option<PathBuf> {
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
