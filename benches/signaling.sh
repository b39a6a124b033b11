#!/usr/bin/env bash
# Measures `confer serve` against matchbox_server and the PeerJS server under the same load, in
# one run, and prints the figures side by side with Confer's ratio to each.
#
#   benches/signaling.sh            # full run (15,000 connections; about 10 minutes)
#   CLIENTS=2000 benches/signaling.sh   # a quicker look
#
# Load goes only to servers this script starts on loopback; each is stopped by its pid.
# matchbox_server (crates.io) and the PeerJS server (npm `peer`) are installed into
# benches/.tools the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=${CLIENTS:-15000}           # connections held
JOIN_RATE=${JOIN_RATE:-1000}        # joins a second while connecting them
RELAY_CLIENTS=${RELAY_CLIENTS:-400}
RELAY_RATE=${RELAY_RATE:-1500}      # messages a second per client: 600,000/s offered, more than any serves
RELAY_SECONDS=${RELAY_SECONDS:-10}
STEADY_CLIENTS=${STEADY_CLIENTS:-250}
STEADY_RATE=${STEADY_RATE:-400}    # 100,000 messages/s: the issue's target, which every server carries
TOOLS=benches/.tools
SOURCES=127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5   # ~28,000 ports each
OUT=${OUT:-target/bench-signaling}

source scripts/lib.sh
ensure_build_deps
cargo build --release --locked
CONFER=target/release/confer
if [ ! -x "$TOOLS/bin/matchbox_server" ]; then
    cargo install matchbox_server --locked --root "$TOOLS"
fi
if [ ! -f "$TOOLS/node_modules/peer/package.json" ]; then
    npm install --prefix "$TOOLS" --no-audit --no-fund peer@1 >/dev/null
fi
ulimit -n "$(ulimit -Hn)"
mkdir -p "$OUT"

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "server on port $1 did not start" >&2
    return 1
}

# start_server NAME PORT -> sets SERVER_PID
start_server() {
    local name=$1 port=$2
    case $name in
        confer)
            "$CONFER" serve --open --listen "127.0.0.1:$port" --max-conns-per-ip 100000 \
                --max-messages-per-sec 100000 --max-burst 100000 --max-peers-per-room 1000 \
                >"$OUT/$name.log" 2>&1 &
            ;;
        matchbox)
            "$TOOLS/bin/matchbox_server" "127.0.0.1:$port" >"$OUT/$name.log" 2>&1 &
            ;;
        peerjs)
            node "$TOOLS/node_modules/peer/dist/bin/peerjs.js" --host 127.0.0.1 --port "$port" \
                --concurrent_limit 1000000 >"$OUT/$name.log" 2>&1 &
            ;;
    esac
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port "$port"
}

url_for() {
    case $1 in
        confer) echo "ws://127.0.0.1:$2/ws" ;;
        *) echo "ws://127.0.0.1:$2" ;;
    esac
}

# measure NAME KIND CLIENTS MESSAGE_RATE DURATION HOLD: one load on a fresh server, to
# $OUT/NAME-KIND.json.
measure() {
    local name=$1 kind=$2 clients=$3 rate=$4 duration=$5 hold=$6 port
    port=$(free_port)
    start_server "$name" "$port"
    echo "== $name $kind: $clients clients, $rate messages/s each, for $duration" >&2
    "$CONFER" loadtest --protocol "$name" --url "$(url_for "$name" "$port")" \
        --clients "$clients" --room-size 2 --join-rate "$JOIN_RATE" --message-rate "$rate" \
        --duration "$duration" --hold "$hold" --source-ips "$SOURCES" \
        --server-pid "$SERVER_PID" --json >"$OUT/$name-$kind.json"
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
}

for name in confer matchbox peerjs; do
    measure "$name" hold "$CLIENTS" 0 0s 3s
    measure "$name" relay "$RELAY_CLIENTS" "$RELAY_RATE" "${RELAY_SECONDS}s" 1s
    # Latency at a load every server carries, apart from latency flat out above.
    measure "$name" steady "$STEADY_CLIENTS" "$STEADY_RATE" "${RELAY_SECONDS}s" 1s
done

python3 - "$OUT" $((STEADY_CLIENTS * STEADY_RATE)) <<'PY'
import json, sys
out, steady = sys.argv[1], int(sys.argv[2])
load = lambda n, k: json.load(open(f"{out}/{n}-{k}.json"))
rows = [
    ("connections held", "hold", "connections_held", "more"),
    ("server RSS per connection (KiB)", "hold", "server_rss_per_connection_kib", "less"),
    ("join p50 (ms)", "hold", "join_p50_ms", "less"),
    ("join p99 (ms)", "hold", "join_p99_ms", "less"),
    (f"relay p50 (ms) at {steady:,}/s", "steady", "relay_p50_ms", "less"),
    (f"relay p99 (ms) at {steady:,}/s", "steady", "relay_p99_ms", "less"),
    ("relayed messages/s flat out", "relay", "messages_per_sec", "more"),
    ("relay p50 (ms) flat out", "relay", "relay_p50_ms", "less"),
    ("relay p99 (ms) flat out", "relay", "relay_p99_ms", "less"),
]
servers = ["confer", "matchbox", "peerjs"]
def fmt(v): return "-" if v is None else (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}")
print(f"{'':34}" + "".join(f"{s:>12}" for s in servers) + "   confer vs matchbox, vs peerjs")
for label, kind, key, better in rows:
    values = [load(s, kind).get(key) for s in servers]
    ratios = []
    for other in values[1:]:
        c = values[0]
        if c in (None, 0) or other in (None, 0):
            ratios.append("-")
        else:
            # How many times better Confer is (above 1 = ahead).
            ratios.append(f"{(c / other if better == 'more' else other / c):.2f}x")
    print(f"{label:34}" + "".join(f"{fmt(v):>12}" for v in values) + "   " + ", ".join(ratios))
for s in servers:
    for kind in ("hold", "steady", "relay"):
        r = load(s, kind)
        if r.get("join_failures") or r.get("dropped_connections"):
            print(f"note: {s} {kind}: {r['join_failures']} failed joins, "
                  f"{r['dropped_connections']} dropped; first error: {r.get('first_join_error')}")
PY
