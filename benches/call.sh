#!/usr/bin/env bash
# A 1:1 call on loopback between two headless participants (release build, synthetic 720p30
# camera and tone), measured from their own stats files: frames a second received,
# glass-to-glass latency from the pattern's stripe, join to first remote picture, and the CPU
# both processes use together. Then the same call between two headless Chromiums (Debian's,
# driven by playwright-core from tests/browser, the page in benches/browser/), measured the
# same way, and the ratio of the two.
#
#   benches/call.sh                  # 20 s calls
#   SECONDS_CALL=40 benches/call.sh
#   BEFORE=c2c587e benches/call.sh   # also an earlier build (a git revision, built here in a
#                                    # worktree under target/, or the path of a binary):
#                                    # its call and this one's alternate, ROUNDS times each
#
# Everything runs on loopback and is stopped by pid; the calls run one after the other so
# that none takes CPU from another.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_CALL=${SECONDS_CALL:-20}
OUT=${OUT:-target/bench-call}
BEFORE=${BEFORE:-}
ROUNDS=${ROUNDS:-2}

source scripts/lib.sh
ensure_build_deps
ensure_debs chromium
ensure_browser_tools
OLD=""
if [ -n "$BEFORE" ]; then
    if [ -x "$BEFORE" ]; then
        OLD=$(realpath "$BEFORE")
    else
        # The earlier revision, built as a release the same way and in the same target dir
        # (its dependencies are this one's), first: the build of this one comes after it.
        tree=$PWD/target/bench-before-src
        rm -rf "$tree"
        git worktree prune
        git worktree add --detach "$tree" "$BEFORE" >/dev/null
        (cd "$tree" && CARGO_TARGET_DIR=$OLDPWD/target cargo build --release --locked)
        OLD=$PWD/target/bench-before/confer
        mkdir -p "$(dirname "$OLD")"
        cp target/release/confer "$OLD"
        git worktree remove --force "$tree"
    fi
fi
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

# CPU over the middle of a call: utime + stime of both, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One native call with binary $1, measured into $OUT/$2.*
native_call() {
    local bin=$1 tag=$2 link="confer://127.0.0.1:$port/bench-$2?insecure=1"
    "$bin" join "$link" --headless --name first --camera test-pattern --mic tone \
        --duration $((SECONDS_CALL + 2)) --stats "$OUT/$tag.first.jsonl" 2>"$OUT/$tag.first.log" &
    local first=$!; PIDS+=($first)
    sleep 1
    "$bin" join "$link" --headless --name second --camera test-pattern --mic tone \
        --duration "$SECONDS_CALL" --stats "$OUT/$tag.second.jsonl" 2>"$OUT/$tag.second.log" &
    local second=$!; PIDS+=($second)
    sleep 5
    local start_ticks start_time end_ticks end_time
    start_ticks=$(( $(ticks $first) + $(ticks $second) ))
    start_time=$(date +%s.%N)
    sleep $((SECONDS_CALL - 8))
    end_ticks=$(( $(ticks $first) + $(ticks $second) ))
    end_time=$(date +%s.%N)
    wait $second; wait $first
    python3 -c "print(($end_ticks - $start_ticks) / $(getconf CLK_TCK) / ($end_time - $start_time))" \
        >"$OUT/$tag.cpu"
}

# The figures of the calls named $@ (their tags), one table; CPU is also left in $OUT/$tag.cpu.
report() {
    python3 - "$OUT" "$@" <<'PY'
import json, statistics, sys
out, tags = sys.argv[1], sys.argv[2:]
print(f"{'':16}{'fps in':>8}{'g2g p50':>10}{'g2g p95':>10}{'join->1st frame':>17}{'freezes':>9}{'A/V sync':>10}{'kbit/s in':>11}{'CPU':>7}")
for tag in tags:
    cpu = float(open(f"{out}/{tag}.cpu").read())
    for who in ("first", "second"):
        lines = [json.loads(l) for l in open(f"{out}/{tag}.{who}.jsonl")]
        steady = [l for l in lines if l["t"] >= 4 and l["t"] <= lines[-1]["t"] - 1]
        fps = statistics.mean(l["fps_in"] for l in steady)
        p50 = statistics.median(l["g2g_ms_p50"] for l in steady if l["g2g_ms_p50"] is not None)
        p95 = statistics.median(l["g2g_ms_p95"] for l in steady if l["g2g_ms_p95"] is not None)
        first = next((l["first_frame_ms"] for l in lines if l.get("first_frame_ms") is not None), None)
        freezes = lines[-1]["freezes"]
        syncs = [l["av_sync_ms"] for l in steady if l.get("av_sync_ms") is not None]
        sync = f"{statistics.median(syncs):+.1f}ms" if syncs else "-"
        kbps = statistics.mean(l["bitrate_in_bps"] for l in steady) / 1000
        cpu_text = f"{cpu * 100:.0f}%" if who == "first" else ""
        print(f"{tag + ' ' + who:16}{fps:8.1f}{p50:8.1f}ms{p95:8.1f}ms{first if first is not None else '-':>15}ms{freezes:>9}{sync:>10}{kbps:>11.0f}{cpu_text:>7}")
print("A/V sync: audio's latency less video's, from the beep and flash marked at each second;")
print("CPU: both participants together, in % of one core")
PY
}

if [ -n "$OLD" ]; then
    tags=()
    for round in $(seq 1 "$ROUNDS"); do
        native_call "$OLD" "before$round"
        native_call "$CONFER" "after$round"
        tags+=("before$round" "after$round")
    done
    report "${tags[@]}"
    python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def figures(kind):
    cpu, p50 = [], []
    for r in range(1, rounds + 1):
        cpu.append(float(open(f"{out}/{kind}{r}.cpu").read()))
        for who in ("first", "second"):
            lines = [json.loads(l) for l in open(f"{out}/{kind}{r}.{who}.jsonl")]
            steady = [l for l in lines if 4 <= l["t"] <= lines[-1]["t"] - 1]
            p50 += [l["g2g_ms_p50"] for l in steady if l["g2g_ms_p50"] is not None]
    return statistics.mean(cpu), statistics.median(p50)
(bc, bg), (ac, ag) = figures("before"), figures("after")
print(f"before: CPU {bc * 100:.0f}% of a core, glass-to-glass p50 {bg:.1f} ms")
print(f"after:  CPU {ac * 100:.0f}% of a core, glass-to-glass p50 {ag:.1f} ms")
print(f"after / before: CPU {ac / bc:.2f}, glass-to-glass {ag / bg:.2f}")
# This build's mean CPU over its calls, for the ratio against Chromium below.
open(f"{out}/native_cpu", "w").write(str(ac))
PY
else
    native_call "$CONFER" native
    report native
    cp "$OUT/native.cpu" "$OUT/native_cpu"
fi

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
