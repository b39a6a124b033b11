"""The table of benches/loss.sh, from the files its calls left in OUT.

    python3 loss_report.py OUT SECONDS_CALL SKIP TAG...

Each TAG is one impairment (loss{PERCENT}-rtt{MS}); for it, OUT holds the native call
(TAG.confer.json: when each participant started, the steady window, the CPU; TAG.confer.first.jsonl
and TAG.confer.second.jsonl: `confer join --stats`) and the Chromium call (TAG.chromium.json:
loss.mjs's output). Each receiver is measured over the steady window; the row is the two
receivers of a call: counts summed, rates and latencies averaged.
"""
import collections
import json
import math
import os
import statistics
import sys


def grown(values):
    """How much a cumulative counter grew over `values` (None for absent; a counter that falls
    started again, e.g. with a new connection, and counts from zero)."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return None
    total = 0.0
    for a, b in zip(values, values[1:]):
        total += b - a if b >= a else b
    return total


def percentile(values, q):
    """Nearest rank, as Confer's stats do (src/call/stats.rs)."""
    values = sorted(values)
    return values[min(max(math.ceil(q * len(values)), 1), len(values)) - 1]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def mean(values):
    values = [v for v in values if v is not None]
    return statistics.mean(values) if values else None


def g2g_summary(per_second):
    """(p50, p95) of a receiver from each second's (p50, p95): the means over the seconds (a few
    bad seconds must show, in the tail above all)."""
    return mean(p for p, _ in per_second), mean(q for _, q in per_second)


def confer_receiver(path, start, window):
    """One native receiver's figures over the window. A stats line's wall time is its process's
    start plus its t (the call starts as the process does, within a few tens of ms)."""
    if not os.path.exists(path):
        return None
    lines = [json.loads(l) for l in open(path) if l.strip()]
    w0, w1 = window
    before = [l for l in lines if start + l["t"] < w0]
    inside = [l for l in lines if w0 <= start + l["t"] <= w1]
    if not inside:
        return None
    span = ([before[-1]] if before else []) + inside
    seconds = span[-1]["t"] - span[0]["t"]

    def counter(key):
        return grown([l.get(key) for l in span]) if any(key in l for l in span) else None

    concealed = counter("audio_concealed_ms")
    frozen = counter("frozen_ms")
    return {
        "fps": mean(l["fps_in"] for l in inside),
        "resolutions": [f"{l['width_in']}x{l['height_in']}" for l in inside if l["width_in"]],
        "freezes": counter("freezes"),
        "frozen_s": frozen / 1000 if frozen is not None else None,
        "g2g": g2g_summary([(l["g2g_ms_p50"], l["g2g_ms_p95"]) for l in inside
                            if l.get("g2g_ms_p50") is not None]),
        "concealed_pct": concealed / (seconds * 1000) * 100 if concealed is not None and seconds > 0 else None,
        "audio_ms": median(l.get("audio_latency_ms") for l in inside),
        "audio_buffer_ms": median(l.get("audio_delay_ms") for l in inside),
        "nacks": counter("nacks_out"),
        "plis": counter("pli_count"),
        "rtt_ms": median(l.get("rtt_ms") for l in inside),
        "kbps": mean(l["bitrate_in_bps"] / 1000 for l in inside),
        "tcp": False,
    }


def chromium_receiver(received, arrived, window_start, window_end):
    """One Chromium receiver's figures over the window, from loss.mjs's samples (a getStats()
    a second, t in s since the second participant's arrival) and the stripes it read."""
    span = [s for s in received["samples"] if arrived + s["t"] * 1000 >= window_start and "error" not in s]
    if len(span) < 2:
        return None
    seconds = span[-1]["t"] - span[0]["t"]

    def delta(key):
        return grown([s.get(key) for s in span])

    bins = collections.defaultdict(list)
    for wall, latency in received["g2g"]:
        if window_start <= wall <= window_end:
            bins[int((wall - window_start) // 1000)].append(latency)
    per_second = [(percentile(v, 0.5), percentile(v, 0.95)) for _, v in sorted(bins.items())]
    concealed, samples = delta("concealedSamples"), delta("totalSamplesReceived")
    jb, emitted = delta("audioJitterBufferDelay"), delta("audioJitterBufferEmitted")
    rtt = median(s.get("rtt") for s in span)
    rtt_ms = rtt * 1000 if rtt is not None else None
    buffer = jb / emitted * 1000 if jb is not None and emitted else None
    frames, received_bytes = delta("framesDecoded"), delta("pairBytesReceived")
    return {
        "fps": frames / seconds if frames is not None and seconds > 0 else None,
        "resolutions": [f"{s['width']}x{s['height']}" for s in span if s.get("width")],
        "freezes": delta("freezeCount"),
        "frozen_s": delta("totalFreezesDuration"),
        "g2g": g2g_summary(per_second),
        "concealed_pct": concealed / samples * 100 if concealed is not None and samples else None,
        "audio_ms": None,  # not measured: see the footnote
        "audio_buffer_ms": buffer,
        "nacks": delta("nackCount"),
        "plis": delta("pliCount"),
        "rtt_ms": rtt_ms,
        "kbps": received_bytes * 8 / seconds / 1000 if received_bytes is not None and seconds > 0 else None,
        "tcp": any(s.get("protocol") not in (None, "udp") for s in span),
    }


def combine(receivers, cpu, net):
    """The row of a call: its two receivers' counts summed, rates and latencies averaged."""
    got = [r for r in receivers if r is not None]
    if not got:
        return None

    def total(key):
        values = [r[key] for r in got]
        return None if any(v is None for v in values) else sum(values)

    def avg(key):
        return mean(r[key] for r in got)

    modes = [collections.Counter(r["resolutions"]).most_common(1)[0][0] for r in got if r["resolutions"]]
    return {
        "fps": avg("fps"),
        "resolution": "/".join(dict.fromkeys(modes)) or "-",
        "freezes": total("freezes"),
        "frozen_s": total("frozen_s"),
        "g2g50": mean(r["g2g"][0] for r in got),
        "g2g95": mean(r["g2g"][1] for r in got),
        "concealed_pct": avg("concealed_pct"),
        "audio_ms": avg("audio_ms"),
        # What audio waits at the receiver plus the one-way trip: the same estimate for both.
        "audio_est_ms": mean(r["audio_buffer_ms"] + r["rtt_ms"] / 2 for r in got
                             if r["audio_buffer_ms"] is not None and r["rtt_ms"] is not None),
        "nacks": total("nacks"),
        "plis": total("plis"),
        "rtt_ms": avg("rtt_ms"),
        "kbps": avg("kbps"),
        "cpu": cpu,
        "dropped_pct": net["udp_dropped"] / net["udp_total"] * 100 if net and net.get("udp_total") else None,
        "missing": len(got) < len(receivers),
        "tcp": any(r["tcp"] for r in got),
    }


def udp_window(path, start, end):
    """The drop counters over [start, end] (ms since the epoch) from the once-a-second samples
    ("ms dropped total") taken during the browsers' call."""
    try:
        samples = [tuple(int(x) for x in l.split()) for l in open(path) if len(l.split()) == 3]
    except (OSError, ValueError):
        return None
    before = [s for s in samples if s[0] <= start]
    inside = [s for s in samples if start <= s[0] <= end]
    if not inside:
        return None
    first, last = (before[-1] if before else inside[0]), inside[-1]
    return {"udp_dropped": last[1] - first[1], "udp_total": last[2] - first[2]}


def fmt(value, spec, unit=""):
    return "-" if value is None else f"{value:{spec}}{unit}"


def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


def main():
    out, seconds_call, skip, tags = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    columns = [("impairment", 22), ("client", 9), ("fps", 6), ("resolution", 11), ("freezes", 8),
               ("frozen", 8), ("g2g p50/p95 ms", 16), ("audio conc.", 12), ("audio lat.", 11), ("buf+RTT/2", 10),
               ("NACKs", 7), ("PLIs", 6), ("RTT", 8), ("kbit/s", 8), ("CPU", 6), ("UDP lost", 9)]
    header = "".join(name.ljust(width) if i < 2 else name.rjust(width)
                     for i, (name, width) in enumerate(columns))
    lines = [header, "-" * len(header)]
    notes = []
    for tag in tags:
        loss, rtt = tag.removeprefix("loss").split("-rtt")
        label = f"{loss} % loss" + (f", {rtt} ms RTT" if rtt != "0" else "")
        probe = open(f"{out}/{tag}.udp_rtt").read().strip() if os.path.exists(f"{out}/{tag}.udp_rtt") else "-"
        if rtt != "0":
            notes.append(f"{label}: a UDP echo through the same rules before the calls took {probe} ms (median of 20).")
            delay_log = f"{out}/{tag}.delay.log"
            said = [l.strip() for l in open(delay_log) if l.startswith("held")] if os.path.exists(delay_log) else []
            if said:
                notes.append(f"  The delay element (both calls): {said[-1]}.")

        meta = load(f"{out}/{tag}.confer.json")
        confer = None
        if meta:
            receivers = [confer_receiver(f"{out}/{tag}.confer.{who}.jsonl", meta[f"{who}_start"], meta["window"])
                         for who in ("first", "second")]
            confer = combine(receivers, meta["cpu"], meta)
        browser = load(f"{out}/{tag}.chromium.json")
        chromium = None
        if browser:
            receivers = [chromium_receiver(r, browser["arrived"], browser["windowStart"], browser["windowEnd"])
                         for r in browser["received"]]
            chromium = combine(receivers, browser["cpu"],
                               udp_window(f"{out}/{tag}.chromium.udp", browser["windowStart"], browser["windowEnd"]))

        for i, (client, row) in enumerate((("Confer", confer), ("Chromium", chromium))):
            first = label if i == 0 else ""
            if row is None:
                lines.append(first.ljust(22) + client.ljust(9) + "  (no figures: the call failed, see its logs in " + out + ")")
                continue
            cells = [first, client + ("*" if row["missing"] or row["tcp"] else ""),
                     fmt(row["fps"], ".1f"), row["resolution"], fmt(row["freezes"], ".0f"),
                     fmt(row["frozen_s"], ".1f", " s"),
                     f"{fmt(row['g2g50'], '.0f')} / {fmt(row['g2g95'], '.0f')}",
                     fmt(row["concealed_pct"], ".1f", " %"), fmt(row["audio_ms"], ".0f", " ms"),
                     fmt(row["audio_est_ms"], ".0f", " ms"), fmt(row["nacks"], ".0f"),
                     fmt(row["plis"], ".0f"), fmt(row["rtt_ms"], ".0f", " ms"), fmt(row["kbps"], ".0f"),
                     fmt(row["cpu"] * 100 if row["cpu"] is not None else None, ".0f", " %"),
                     fmt(row["dropped_pct"], ".1f", " %")]
            lines.append("".join(c.ljust(w) if j < 2 else c.rjust(w)
                                 for j, (c, (_, w)) in enumerate(zip(cells, columns))))
            if row["missing"]:
                notes.append(f"{label}, {client}*: one receiver has no figures (see the logs in {out}).")
            if row["tcp"]:
                notes.append(f"{label}, {client}*: the media went over TCP for a while, around the UDP loss.")

    window = seconds_call - skip - 1
    lines += [
        "",
        f"Each call: 1:1, 720p30 H.264 + Opus, {seconds_call} s; measured from {skip} s after the second participant",
        f"arrived to 1 s before the end (about {window} s). A row is the call's two receivers: counts (freezes, frozen",
        "time, NACKs, PLIs) summed, rates and latencies averaged.",
        "freezes / frozen: WebRTC's definition (a gap between pictures longer than max(3 x the average interval,",
        "  average + 150 ms)), as each counts them (Confer: freezes, frozen_ms; Chromium: freezeCount,",
        "  totalFreezesDuration).",
        "g2g: glass-to-glass, from the capture time each picture carries in its stripe to the picture decoded:",
        "  Confer's synthetic camera and decoder; for Chromium a canvas camera that draws the same picture and",
        "  stripe, read back from each frame the track delivers (MediaStreamTrackProcessor). The mean over the",
        "  window's seconds of each second's p50 / p95.",
        "audio conc.: share of the audio played that was concealment (Confer: audio_concealed_ms over time; Chromium:",
        "  concealedSamples / totalSamplesReceived).",
        "audio lat.: Confer's own measure, its tone's beep from the microphone to playing (audio_latency_ms);",
        "  Chromium has none (its fake microphone's beep carries no time), hence \"-\".",
        "buf+RTT/2: an ESTIMATE of audio latency for both, what the audio waits at the receiver plus the one-way",
        "  trip: Confer's audio_delay_ms (jitter buffer and device) or Chromium's jitterBufferDelay /",
        "  jitterBufferEmittedCount (jitter buffer only), plus RTT / 2. It leaves out capture and encoding.",
        "NACKs / PLIs: sent by the receivers, as each counts them (Confer: nacks_out, pli_count; Chromium: nackCount,",
        "  pliCount of the video inbound-rtp).",
        "RTT: as each client measures it (Confer's rtt_ms; Chromium's ICE candidate pair currentRoundTripTime).",
        "kbit/s: what a receiver got, all of the call's packets (Confer's bitrate_in; Chromium's candidate pairs'",
        "  bytesReceived). On this scene Chromium's encoder makes a fraction of Confer's bitrate (pictures at QP",
        "  13-15 in about 1 KB: fewer packets a picture for a given loss to hit); under loss most of what Chromium",
        "  receives beyond that is retransmissions (its retransmittedBytesReceived), not pictures.",
        "CPU: both participants together (Chromium: both browsers' process trees, including the canvas camera",
        "  and the stripe read-back), in % of one core, over the window.",
        "UDP lost: the share of all UDP packets (both ways) that the iptables rule dropped over the window.",
        "\"-\": not reported (by this build of Confer, for its columns).",
    ]
    print("\n".join(lines + [""] + notes).rstrip())


if __name__ == "__main__":
    main()
