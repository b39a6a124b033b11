#!/usr/bin/env bash
# Meetings through Janus against the mesh: 4 and 6 natives (synthetic 720p camera and tone),
# as a mesh through `confer serve` and through Janus (Debian's, started with a configuration of
# its own), one after the other, each in a network namespace of its own. Prints a table: CPU
# and upload per participant, and Janus's own CPU (tests/janus_bench.rs, an ignored test, does
# the work; it reuses the Janus tests' support code). Then ten natives in one Janus room (CPU,
# pictures a second received, joining to everyone's first picture), six natives against
# six Chromium pages on Janus's own demo page, and ten natives against ten Chromium pages on
# Confer's guest page in a Confer room through Janus (CPU per participant side by side, with
# the pictures a second each side kept up). About 9 minutes after the release build.
#
#   benches/janus.sh
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."
source scripts/lib.sh
ensure_debs "${TEST_PACKAGES[@]}"
cargo test --release --test janus_bench -- --ignored --nocapture --test-threads 1
