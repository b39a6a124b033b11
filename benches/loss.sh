#!/usr/bin/env bash
# Confer against Chromium on lossy networks. For each impairment (random UDP loss of 0, 1, 2, 5
# and 10 %, then 2 % loss with a 200 ms round trip), a 1:1 720p30 call between two headless
# `confer join` (synthetic camera and tone, through `confer serve --open`), then the same call
# between two headless Chromiums (benches/browser/loss.html: a canvas camera that draws Confer's
# synthetic picture and stripe), one after the other, each receiver measured over the steady
# part of the call. One table at the end, also saved to $OUT/table.txt.
#
#   benches/loss.sh                       # 40 s calls, all six rows (about 8 minutes)
#   SECONDS_CALL=20 benches/loss.sh       # about 5 minutes
#   ROWS="0 5 2@200" benches/loss.sh      # some rows only: LOSS_PERCENT[@RTT_MS]
#   CONFER=path/to/confer benches/loss.sh # another binary (default: this tree's release build,
#                                         # built first)
#
# The binary is copied into $OUT at the start, so a rebuild during the run does not mix two
# builds in one table.
#
# Everything runs in a network namespace of its own (this script re-runs itself under
# `unshare -n`): loopback only, so no packet leaves the machine and the host's firewall and
# interfaces are not touched; the namespace, its rules and its queue vanish with the script.
# In it, loss is iptables' `statistic` match on UDP arriving on loopback (each packet of either
# direction passes INPUT once, so both directions see the loss; TCP, so signaling and the
# browser driver, is spared). The kernel has no netem, so the delay is our own element,
# benches/loss_delay.py: an NFQUEUE listener that holds each UDP packet 100 ms before letting it
# through (200 ms round trip), the same for Confer and Chromium. The calls run one at a time
# (two cores); everything started is stopped by its pid, and every wait is bounded.
set -euo pipefail
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."
SECONDS_CALL=${SECONDS_CALL:-40}
# The first seconds of a call are connection setup and bandwidth ramp-up, not the steady state.
SKIP=${SKIP:-5}
OUT=${OUT:-target/bench-loss}
# Absolute from here on: the namespace half runs the binary copied there.
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
ROWS=${ROWS:-"0 1 2 5 10 2@200"}
PORT=7878 # the namespace is fresh: nothing else listens there

if [ "$SECONDS_CALL" -lt $((SKIP + 5)) ]; then
    echo "SECONDS_CALL must be at least SKIP + 5 ($((SKIP + 5)))" >&2
    exit 2
fi

if [ -z "${CONFER_LOSS_NETNS:-}" ]; then
    # Outside the namespace (the package registries are reachable only from here): what the
    # bench needs, then the same script again inside a new network namespace.
    source scripts/lib.sh
    # iproute2 (ip), iptables: the namespace's loopback and its loss. The delay element and the
    # report are plain python3 (standard library only); chromium and node for the browser call.
    command -v python3 >/dev/null 2>&1 || ensure_debs python3
    ensure_debs chromium iproute2 iptables
    ensure_browser_tools
    if [ -z "${CONFER:-}" ]; then
        ensure_build_deps
        cargo build --release --locked
    fi
    bin=${CONFER:-target/release/confer}
    if [ ! -x "$bin" ]; then
        echo "no Confer binary at $bin: build it first (cargo build --release) or set CONFER" >&2
        exit 1
    fi
    mkdir -p "$OUT"
    # The last run's files go: the report must not pick up a row this run did not make.
    rm -f "$OUT"/*.jsonl "$OUT"/*.json "$OUT"/*.log "$OUT"/*.txt "$OUT"/*.udp "$OUT"/*.udp_rtt
    cp "$bin" "$OUT/confer"
    unshare=(unshare --net)
    # Without root, a user namespace of our own gives the rights iptables needs in it.
    [ "$(id -u)" -eq 0 ] || unshare=(unshare --net --map-root-user)
    exec env CONFER_LOSS_NETNS=1 "${unshare[@]}" -- "$SELF" "$@"
fi

# ---- Inside the namespace from here on. ----
ip link set lo up
CONFER=$OUT/confer
export CONFER_CONFIG_DIR=$OUT/config CONFER_DATA_DIR=$OUT/data

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
# Sleeps until the wall-clock time $1 (seconds since the epoch, fractional).
sleep_until() { sleep "$(awk -v t="$1" -v n="$(now)" 'BEGIN { d = t - n; printf "%.3f", (d > 0 ? d : 0) }')"; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }
# Waits for process $1 at most $2 seconds, then stops it; its exit status (or 124 if stopped).
await_pid() {
    local pid=$1 limit=$2 i
    for ((i = 0; i < limit * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "pid $pid still running after ${limit}s: stopped" >&2
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        return 124
    fi
    wait "$pid"
}
# utime + stime of a process, in clock ticks (0 once it is gone: the row then shows it).
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

"$CONFER" serve --open --listen "127.0.0.1:$PORT" >"$OUT/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

# ---- The impairment. ----
DELAY_PID=""
# Loss $1 (percent) and round trip $2 (ms, 0: none) on UDP over loopback, from a clean chain;
# the delay element's log goes to $3. The first rule only counts (every UDP packet), so the loss
# actually dealt can be read back.
impair() {
    local loss=$1 rtt=$2 log=$3
    iptables -F INPUT
    iptables -A INPUT -i lo -p udp
    if [ "$loss" != 0 ]; then
        iptables -A INPUT -i lo -p udp -m statistic --mode random \
            --probability "$(awk -v p="$loss" 'BEGIN { printf "%.4f", p / 100 }')" -j DROP
    fi
    if [ "$rtt" != 0 ]; then
        # Half the round trip each way: every packet, of either direction, is held once.
        python3 benches/loss_delay.py 0 "$((rtt / 2))" >"$log" 2>&1 &
        DELAY_PID=$!
        PIDS+=("$DELAY_PID")
        for _ in $(seq 1 50); do grep -q ready "$log" && break; sleep 0.1; done
        grep -q ready "$log" || { echo "the delay element did not start:" >&2; cat "$log" >&2; exit 1; }
        # Without --queue-bypass: should the element die, UDP stops instead of flowing undelayed.
        iptables -A INPUT -i lo -p udp -j NFQUEUE --queue-num 0
    fi
}
unimpair() {
    iptables -F INPUT
    if [ -n "$DELAY_PID" ]; then
        kill "$DELAY_PID" 2>/dev/null || true
        wait "$DELAY_PID" 2>/dev/null || true
        DELAY_PID=""
    fi
}
# The UDP packets dropped and counted since the counters were zeroed: "dropped total". Rule 1
# is the counting rule (every UDP packet); the DROP rule is the loss.
udp_counts() {
    iptables -L INPUT -v -x -n --line-numbers |
        awk 'NR > 2 { if ($1 == 1) t = $2; if ($4 == "DROP") d = $2 } END { print d + 0, t + 0 }'
}
# The round trip a UDP packet sees through the rules now: an echo on loopback, 20 probes.
udp_rtt() {
    python3 - <<'PY'
import socket, statistics, threading, time
echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
echo.bind(("127.0.0.1", 0))
def serve():
    while True:
        data, peer = echo.recvfrom(2048)
        echo.sendto(data, peer)
threading.Thread(target=serve, daemon=True).start()
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
probe.settimeout(1.5)
rtts = []
for _ in range(20):
    sent = time.monotonic()
    probe.sendto(b"p" * 1000, echo.getsockname())
    try:
        probe.recv(2048)
        rtts.append((time.monotonic() - sent) * 1000)
    except socket.timeout:
        pass
    time.sleep(0.02)
print(f"{statistics.median(rtts):.1f}" if rtts else "-")
PY
}

# ---- One native call, measured into $OUT/$1.confer.* ----
native_call() {
    local tag=$1 link="confer://127.0.0.1:$PORT/loss-$1?insecure=1" first second t1 t2 w0 w1
    local start_ticks end_ticks start_time end_time
    t1=$(now)
    "$CONFER" join "$link" --headless --name first --camera test-pattern --mic tone \
        --duration $((SECONDS_CALL + 2)) --stats "$OUT/$tag.confer.first.jsonl" 2>"$OUT/$tag.confer.first.log" &
    first=$!; PIDS+=("$first")
    sleep 1
    t2=$(now)
    "$CONFER" join "$link" --headless --name second --camera test-pattern --mic tone \
        --duration "$SECONDS_CALL" --stats "$OUT/$tag.confer.second.jsonl" 2>"$OUT/$tag.confer.second.log" &
    second=$!; PIDS+=("$second")
    # The steady window: from SKIP s after the second arrives to 1 s before it leaves.
    w0=$(add "$t2" "$SKIP")
    w1=$(add "$t2" $((SECONDS_CALL - 1)))
    sleep_until "$w0"
    iptables -Z INPUT
    start_ticks=$(( $(ticks "$first") + $(ticks "$second") ))
    start_time=$(now)
    sleep_until "$w1"
    end_ticks=$(( $(ticks "$first") + $(ticks "$second") ))
    end_time=$(now)
    read -r dropped total < <(udp_counts)
    await_pid "$second" 30 || echo "$tag: the second Confer exited with $?" >&2
    await_pid "$first" 30 || echo "$tag: the first Confer exited with $?" >&2
    cat >"$OUT/$tag.confer.json" <<EOF
{"first_start": $t1, "second_start": $t2, "window": [$w0, $w1],
 "cpu": $(awk -v a="$start_ticks" -v b="$end_ticks" -v s="$start_time" -v e="$end_time" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.4f", (b - a) / hz / (e - s) }'),
 "udp_dropped": $dropped, "udp_total": $total}
EOF
}

# ---- The same call between two Chromiums, into $OUT/$1.chromium.* ----
chromium_call() {
    local tag=$1 pid sampler
    iptables -Z INPUT
    # The browsers' window is known only once loss.mjs has run, so the drop counters are sampled
    # once a second meanwhile (ms since the epoch, dropped, total); the report picks the window.
    (while :; do echo "$(date +%s%3N) $(udp_counts)"; sleep 1; done) >"$OUT/$tag.chromium.udp" &
    sampler=$!; PIDS+=("$sampler")
    # loss.mjs closes its browsers itself; the timeout only bounds a run that hangs.
    timeout -k 10 $((SECONDS_CALL + 90)) node benches/browser/loss.mjs "ws://127.0.0.1:$PORT/ws" \
        "loss-$tag-chromium" "$SECONDS_CALL" "$SKIP" >"$OUT/$tag.chromium.json" 2>"$OUT/$tag.chromium.log" &
    pid=$!; PIDS+=("$pid")
    if ! wait "$pid"; then
        echo "$tag: the Chromium call failed (see $OUT/$tag.chromium.log)" >&2
        rm -f "$OUT/$tag.chromium.json"
    fi
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
}

tags=()
for row in $ROWS; do
    loss=${row%@*}
    rtt=0
    [ "$row" != "$loss" ] && rtt=${row#*@}
    tag="loss${loss}-rtt${rtt}"
    tags+=("$tag")
    echo "== $loss % UDP loss$([ "$rtt" != 0 ] && echo ", ${rtt} ms round trip"): Confer, then Chromium" >&2
    impair "$loss" "$rtt" "$OUT/$tag.delay.log"
    udp_rtt >"$OUT/$tag.udp_rtt"
    echo "   UDP round trip through the rules: $(cat "$OUT/$tag.udp_rtt") ms" >&2
    native_call "$tag"
    chromium_call "$tag"
    [ -z "$DELAY_PID" ] || kill -0 "$DELAY_PID" || echo "$tag: the delay element died" >&2
    unimpair
done

python3 benches/loss_report.py "$OUT" "$SECONDS_CALL" "$SKIP" "${tags[@]}" | tee "$OUT/table.txt"
