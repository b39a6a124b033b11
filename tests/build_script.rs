//! The nasm guard in build.rs: an x86 build without nasm, or with a plain-C OpenH264 left from
//! before, must stop with instructions. The build script is included here and its decision run
//! against a build directory laid out as cargo lays it out.

#[allow(dead_code)] // build.rs's `main` is cargo's to call, not this test's
#[path = "../build.rs"]
mod build_script;

use std::path::{Path, PathBuf};

use build_script::{FALLBACK_MARKER, check_nasm};

/// `target/debug/build/` with confer's OUT_DIR and an openh264-sys2 build that printed `output`.
fn build_dir(root: &Path, openh264_output: Option<&str>) -> PathBuf {
    let out_dir = root.join("build/confer-0123/out");
    std::fs::create_dir_all(&out_dir).unwrap();
    if let Some(text) = openh264_output {
        let dir = root.join("build/openh264-sys2-4567");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("output"), text).unwrap();
    }
    out_dir
}

#[test]
fn x86_without_nasm_is_refused_with_instructions() {
    let root = tempfile::tempdir().unwrap();
    let out_dir = build_dir(root.path(), None);
    for arch in ["x86_64", "x86"] {
        let lines = check_nasm(arch, false, false, Some(&out_dir)).unwrap_err();
        let text = lines.join("\n");
        assert!(text.contains("nasm was not found"), "{text}");
        assert!(text.contains("apt-get install nasm"), "{text}");
        assert!(text.contains("cargo clean -p openh264-sys2"), "{text}");
    }
}

#[test]
fn a_plain_c_openh264_left_from_before_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let output = format!("cargo:rerun-if-changed=upstream\n{FALLBACK_MARKER}.\n");
    let out_dir = build_dir(root.path(), Some(&output));
    let lines = check_nasm("x86_64", false, true, Some(&out_dir)).unwrap_err();
    let text = lines.join("\n");
    assert!(text.contains("without its assembly"), "{text}");
    assert!(text.contains("openh264-sys2-4567"), "{text}");
}

#[test]
fn an_assembly_build_with_nasm_goes_on() {
    let root = tempfile::tempdir().unwrap();
    let out_dir = build_dir(root.path(), Some("cargo:rustc-link-lib=static=openh264\n"));
    assert_eq!(check_nasm("x86_64", false, true, Some(&out_dir)), Ok(()));
    // Before openh264-sys2 has been built there is nothing to check yet.
    let fresh = build_dir(&root.path().join("fresh"), None);
    assert_eq!(check_nasm("x86_64", false, true, Some(&fresh)), Ok(()));
}

#[test]
fn other_architectures_and_a_deliberate_plain_c_build_need_no_nasm() {
    assert_eq!(check_nasm("aarch64", false, false, None), Ok(()));
    assert_eq!(check_nasm("x86_64", true, false, None), Ok(()));
}

#[test]
fn nasm_is_found_where_the_build_runs() {
    // scripts/test installs nasm; this build would have stopped without it.
    assert!(build_script::nasm_runs());
}
