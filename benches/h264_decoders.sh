#!/usr/bin/env bash
# OpenH264's H.264 decoder against FFmpeg's on the same stream (benches/h264_decoders.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_deps
ensure_debs ffmpeg
cargo bench --locked --bench h264_decoders
