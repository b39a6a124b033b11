#!/usr/bin/env bash
# A 1:1 call on loopback between two headless participants (release build, synthetic 720p30
# camera and tone), measured from their own stats files: frames a second received,
# glass-to-glass latency from the pattern's stripe, join to first remote picture, and the CPU
# both processes use together. Then the same call between two headless Chromiums (Debian's,
# driven by playwright-core from tests/browser, the page in benches/browser/), measured the
# same way, and the ratio of the two.
#
#   benches/call.sh            # 20 s calls
#   SECONDS_CALL=40 benches/call.sh
#
# Everything runs on loopback and is stopped by pid; the calls run one after the other so
# that neither takes CPU from the other.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_CALL=${SECONDS_CALL:-20}
OUT=${OUT:-target/bench-call}

source scripts/lib.sh
ensure_build_deps
ensure_debs chromium
ensure_browser_tools
cargo build --release --locked
CONFER=$PWD/target/release/confer
mkdir -p "$OUT"
export CONFER_CONFIG_DIR=$PWD/$OUT/config CONFER_DATA_DIR=$PWD/$OUT/data

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$CONFER" serve --open --listen "127.0.0.1:$port" >"$OUT/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
link="confer://127.0.0.1:$port/bench?insecure=1"

"$CONFER" join "$link" --headless --name first --camera test-pattern --mic tone \
    --duration $((SECONDS_CALL + 2)) --stats "$OUT/first.jsonl" 2>"$OUT/first.log" &
FIRST=$!; PIDS+=($FIRST)
sleep 1
"$CONFER" join "$link" --headless --name second --camera test-pattern --mic tone \
    --duration "$SECONDS_CALL" --stats "$OUT/second.jsonl" 2>"$OUT/second.log" &
SECOND=$!; PIDS+=($SECOND)

# CPU over the middle of the call: utime + stime of both, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleep 5
start_ticks=$(( $(ticks $FIRST) + $(ticks $SECOND) ))
start_time=$(date +%s.%N)
sleep $((SECONDS_CALL - 8))
end_ticks=$(( $(ticks $FIRST) + $(ticks $SECOND) ))
end_time=$(date +%s.%N)
wait $SECOND; wait $FIRST

python3 - "$OUT" "$start_ticks" "$end_ticks" "$start_time" "$end_time" "$(getconf CLK_TCK)" <<'PY'
import json, statistics, sys
out, t0, t1, s0, s1, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
cpu = (t1 - t0) / hz / (s1 - s0)
rows = []
for who in ("first", "second"):
    lines = [json.loads(l) for l in open(f"{out}/{who}.jsonl")]
    steady = [l for l in lines if l["t"] >= 4 and l["t"] <= lines[-1]["t"] - 1]
    fps = statistics.mean(l["fps_in"] for l in steady)
    p50 = statistics.median(l["g2g_ms_p50"] for l in steady if l["g2g_ms_p50"] is not None)
    p95 = statistics.median(l["g2g_ms_p95"] for l in steady if l["g2g_ms_p95"] is not None)
    first = next((l["first_frame_ms"] for l in lines if l.get("first_frame_ms") is not None), None)
    freezes = lines[-1]["freezes"]
    syncs = [l["av_sync_ms"] for l in steady if l.get("av_sync_ms") is not None]
    sync = statistics.median(syncs) if syncs else None
    kbps = statistics.mean(l["bitrate_in_bps"] for l in steady) / 1000
    rows.append((who, fps, p50, p95, first, freezes, sync, kbps))
print(f"{'':8}{'fps in':>8}{'g2g p50':>10}{'g2g p95':>10}{'join->1st frame':>17}{'freezes':>9}{'A/V sync':>10}{'kbit/s in':>11}")
for who, fps, p50, p95, first, freezes, sync, kbps in rows:
    sync_text = f"{sync:+.1f}ms" if sync is not None else "-"
    print(f"{who:8}{fps:8.1f}{p50:8.1f}ms{p95:8.1f}ms{first if first is not None else '-':>15}ms{freezes:>9}{sync_text:>10}{kbps:>11.0f}")
print("A/V sync: audio's latency less video's, from the beep and flash marked at each second")
print(f"CPU of both participants together: {cpu * 100:.0f}% of one core")
open(f"{out}/native_cpu", "w").write(str(cpu))
PY

# The same call between two Chromiums.
# Their fake camera plays the synthetic camera's scene, so both sides encode the same motion.
python3 benches/browser/pattern_y4m.py "$OUT/pattern.y4m"
node benches/browser/call.mjs "ws://127.0.0.1:$port/ws" "$SECONDS_CALL" "$PWD/$OUT/pattern.y4m" >"$OUT/chromium.json"
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
native = float(open(f"{out}/native_cpu").read())
browser = json.load(open(f"{out}/chromium.json"))
for who, r in zip(("first", "second"), browser["received"]):
    print(f"chromium {who}: {r['fps']} fps in at {r['width']}x{r['height']} {r['codec']}, {r['kbps']} kbit/s, {r['freezes']} freezes")
print(f"CPU of both Chromiums together: {browser['cpu'] * 100:.0f}% of one core")
print(f"Confer / Chromium CPU: {native / browser['cpu']:.2f} (target: at most 0.5)")
PY
