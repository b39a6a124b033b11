# Shared by scripts/run and scripts/test: installs what the build (and the tests) need,
# idempotently, and says clearly what to do where it cannot.
# shellcheck shell=bash

# Debian/Ubuntu packages the build needs. Measured on a minimal Debian 12 (docs/BUILDING.md):
# g++ for OpenH264 (C++; a machine with only a C compiler lacks it), libclang-dev for
# v4l2-sys-mit (nokhwa), libasound2-dev for alsa-sys (cpal), cmake and make for opusic-sys
# (opus), nasm for OpenH264's assembly (2-3x faster encode).
BUILD_PACKAGES=(g++ pkg-config make cmake libasound2-dev libclang-dev nasm)

# What the window loads at run time (winit and glow open them with dlopen, so the build does not
# need them). Every desktop has them; a bare server or container does not.
# libfontconfig1 finds system fonts for what egui's own fonts lack (Chinese, for one).
WINDOW_PACKAGES=(libxkbcommon-x11-0 libxcursor1 libxi6 libxrandr2 libgl1 libegl1 libgl1-mesa-dri
    libfontconfig1)

# Test-only packages, added here as the tests that need them arrive.
# xvfb: the real-window test; x11-apps (xwd) and netpbm (xwdtopnm): its screenshots;
# pulseaudio and pulseaudio-utils (pactl): `confer devices` against a real audio server.
# redis-server: two `confer serve` sharing rooms. coturn: calls through a real TURN relay.
# chromium: the browser guest tests (Debian's, never a downloaded one); iproute2 (ip): their
# loopback-only network namespace; iptables: loss in that namespace. xdotool: keys and clicks
# for the real window in a call. fonts-wqy-microhei: a Chinese font for the UI tests.
# xdg-utils: xdg-open of a confer:// link to the running app. debootstrap: a fresh Debian to
# install the .deb into (tests/packaging). nsis (makensis): the Windows installer's script compiles.
# janus: a real Janus VideoRoom; janus-demos, libjs-janus-gateway (janus.js): its own demo pages.
TEST_PACKAGES=(xvfb x11-apps netpbm pulseaudio pulseaudio-utils redis-server coturn chromium iproute2
    iptables xdotool fonts-wqy-microhei xdg-utils debootstrap nsis janus janus-demos
    libjs-janus-gateway)

say() { printf 'confer-setup: %s\n' "$*" >&2; }

missing_debs() {
    local pkg status
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || printf '%s\n' "$pkg"
    done
}

# Installs the named Debian packages that are missing; does nothing when all are present.
ensure_debs() {
    if [ "$(uname -s)" != Linux ]; then
        return 0 # macOS and Windows: see the README's per-OS notes
    fi
    if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
        say "not a Debian/Ubuntu system: make sure these (or your distribution's equivalents) are installed: $*"
        return 0
    fi
    local missing
    mapfile -t missing < <(missing_debs "$@")
    [ "${#missing[@]}" -eq 0 ] && return 0
    say "installing ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            say "these packages are missing and this user is not root and has no sudo: ${missing[*]}"
            say "install them as root (apt-get install ${missing[*]}) and run this again"
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine has no package lists yet; refresh them once, not on every run.
    if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
        "${sudo[@]}" apt-get update
        "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" || {
            say "could not install ${missing[*]}"
            exit 1
        }
    fi
}

# rustfmt and clippy ship with rustup's default profile, but not with the minimal one.
ensure_rust_components() {
    local comp missing=()
    cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
    cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
    [ "${#missing[@]}" -eq 0 ] && return 0
    if command -v rustup >/dev/null 2>&1; then
        for comp in "${missing[@]}"; do rustup component add "$comp"; done
    else
        say "cargo is missing ${missing[*]}; install them with your Rust toolchain"
        exit 1
    fi
}

# cargo-deb, which packs the .deb (packaging/linux/build-deb.sh); pinned, built from crates.io.
CARGO_DEB_VERSION=3.8.0
ensure_cargo_deb() {
    if [ "$(cargo deb --version 2>/dev/null | awk '{print $2}')" != "$CARGO_DEB_VERSION" ]; then
        say "installing cargo-deb $CARGO_DEB_VERSION"
        cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
    fi
}

ensure_build_deps() {
    command -v cargo >/dev/null 2>&1 || {
        say "cargo not found: install the Rust toolchain (https://rustup.rs) first"
        exit 1
    }
    ensure_debs "${BUILD_PACKAGES[@]}"
}

# Node.js and playwright-core (pinned in tests/browser/package-lock.json), which drive Chromium
# for the browser tests and the call bench. A machine without Node gets Debian's.
ensure_browser_tools() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || ensure_debs nodejs npm
    if [ ! -f tests/browser/node_modules/playwright-core/package.json ] ||
        [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
        say "installing playwright-core for the browser tests (tests/browser)"
        npm ci --prefix tests/browser --no-audit --no-fund >/dev/null
    fi
}

# The cross-build of confer.exe (scripts/build-windows): Debian's MinGW-w64 C and C++ compilers
# for the C libraries (OpenH264, Opus, aws-lc) and the link; nasm is in BUILD_PACKAGES. Wine
# (64-bit) runs what was built in the tests (tests/windows.rs); nsis makes its installer.
WINDOWS_PACKAGES=(gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine wine64 nsis)

# A Rust target's standard library (rustup downloads it once).
ensure_rust_target() {
    rustup target list --installed 2>/dev/null | grep -qx "$1" && return 0
    if command -v rustup >/dev/null 2>&1; then
        say "adding the Rust target $1"
        rustup target add "$1"
    else
        say "the Rust target $1 is missing; add it to your Rust toolchain"
        exit 1
    fi
}
