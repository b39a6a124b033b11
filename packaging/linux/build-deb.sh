#!/usr/bin/env bash
# Builds Confer's .deb: renders the icons (packaging/icons) into target/icons, then runs
# cargo-deb, which makes a release build and packs what [package.metadata.deb] in Cargo.toml
# lists. Extra arguments go to cargo-deb. The last line printed is the package's path.
# Needs cargo-deb: `cargo install cargo-deb --locked` (scripts/test installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
# cargo-deb's asset paths name target/ (it maps target/release/ itself, but not the icons).
export CARGO_TARGET_DIR="$PWD/target"
cargo run --quiet --release --locked --manifest-path packaging/icons/Cargo.toml -- \
    assets/confer.svg target/icons >/dev/null
cargo deb --locked "$@"
