#!/usr/bin/env bash
# Screen sharing, Confer against Chromium: a 1920x1080 screen of small text (examples/
# screen_page.rs on an Xvfb of the bench's own) rests, scrolls as someone reading does, and
# rests again, PHASE seconds each. First Confer shares it (`confer join --headless --share
# screen`, camera and microphone off) to a second Confer through `confer serve --open` on
# loopback, which keeps the last picture it received; then Chromium shares the same screen
# (getDisplayMedia, H.264 preferred) to a second peer connection in the same page
# (benches/browser/share.html). For each phase: CPU of sender and receiver together, the rate
# sent, pictures a second received; and the luma PSNR of the last received picture against
# the page where it stopped. One table at the end, also in $OUT/table.txt.
#
#   benches/share.sh               # 10 s phases (about 2 minutes after the release build)
#   PHASE=20 benches/share.sh
#
# Everything started is stopped by its pid; every wait is bounded.
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."
PHASE=${PHASE:-10}
OUT=${OUT:-target/bench-share}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac

source scripts/lib.sh
command -v python3 >/dev/null 2>&1 || ensure_debs python3
ensure_debs xvfb chromium
ensure_browser_tools
ensure_build_deps
cargo build --release --locked --bin confer --example screen_page
CONFER=target/release/confer
PAGE=target/release/examples/screen_page
mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/*.jsonl "$OUT"/*.ppm "$OUT"/*.txt
export CONFER_CONFIG_DIR=$OUT/config CONFER_DATA_DIR=$OUT/data

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# utime + stime of a process, in clock ticks (0 once it is gone).
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Waits (at most $2 seconds) until file $1 holds a line matching $3.
wait_for_line() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        grep -q "$3" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "no \"$3\" in $1 after $2 s" >&2
    return 1
}
stop() {
    local pid
    for pid in "$@"; do
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

# ---- The X server whose screen is shared. ----
exec 5< <(Xvfb -displayfd 1 -screen 0 1920x1080x24 -nolisten tcp 2>/dev/null)
XVFB=$!
PIDS+=("$XVFB")
read -r -t 20 number <&5 || { echo "Xvfb did not start" >&2; exit 1; }
export DISPLAY=:$number

# ---- Confer. ----
"$CONFER" serve --open --listen 127.0.0.1:0 >"$OUT/serve.out" 2>"$OUT/serve.log" &
SERVE=$!
PIDS+=("$SERVE")
wait_for_line "$OUT/serve.out" 20 "listening on"
ADDR=$(sed -n 's|^listening on ws://\(.*\)/ws$|\1|p' "$OUT/serve.out" | head -1)
LINK="confer://$ADDR/share-bench?insecure=1"
"$CONFER" join "$LINK" --headless --name receiver --camera off --mic off \
    --save-share "$OUT/confer-received.ppm" --stats "$OUT/receiver.jsonl" 2>"$OUT/receiver.log" &
RECEIVER=$!
PIDS+=("$RECEIVER")
echo "receiver $(date +%s.%N)" >"$OUT/confer-start.log"
# SHARER_RUST_LOG=confer=debug puts the encoder's counts (pictures in, encoded, skipped) in
# sharer.log.
RUST_LOG=${SHARER_RUST_LOG:-warn} \
    "$CONFER" join "$LINK" --headless --name sharer --camera off --mic off --share screen \
    2>"$OUT/sharer.log" &
SHARER=$!
PIDS+=("$SHARER")
# The share is up once the receiver has decoded some of it (the black screen, still).
wait_for_line "$OUT/receiver.jsonl" 60 '"screen_frames_decoded":[1-9]'
"$PAGE" "$DISPLAY" "$OUT/confer-phases.log" "$OUT/confer-final.ppm" "$PHASE" &
PAGE_PID=$!
PIDS+=("$PAGE_PID")
# CPU of both Confers, once a second, until the page is done.
while ! grep -q '^done ' "$OUT/confer-phases.log" 2>/dev/null; do
    echo "$(date +%s.%N) $(ticks "$SHARER") $(ticks "$RECEIVER")" >>"$OUT/confer-cpu.log"
    kill -0 "$PAGE_PID" 2>/dev/null || { echo "the page program stopped" >&2; exit 1; }
    sleep 1
done
stop "$SHARER" "$RECEIVER" "$PAGE_PID" "$SERVE"

# ---- Chromium. ----
cp benches/browser/share.html "$OUT/share.html"
python3 -m http.server --bind 127.0.0.1 --directory "$OUT" 0 >"$OUT/http.out" 2>&1 &
HTTP=$!
PIDS+=("$HTTP")
wait_for_line "$OUT/http.out" 20 "Serving HTTP"
HTTP_PORT=$(sed -n 's|.*port \([0-9]*\).*|\1|p' "$OUT/http.out" | head -1)
node benches/browser/share.mjs "http://127.0.0.1:$HTTP_PORT/share.html" \
    "$OUT/chromium-phases.log" "http://127.0.0.1:$HTTP_PORT/chromium-final.ppm" \
    >"$OUT/chromium.jsonl" 2>"$OUT/chromium.log" &
NODE=$!
PIDS+=("$NODE")
wait_for_line "$OUT/chromium.jsonl" 60 '"settings"'
"$PAGE" "$DISPLAY" "$OUT/chromium-phases.log" "$OUT/chromium-final.ppm" "$PHASE" &
PAGE_PID=$!
PIDS+=("$PAGE_PID")
wait_for_line "$OUT/chromium.jsonl" $((PHASE * 3 + 60)) '"psnr"'
stop "$NODE" "$PAGE_PID" "$HTTP" "$XVFB"

python3 benches/share_report.py "$OUT" "$(getconf CLK_TCK)" | tee "$OUT/table.txt"
