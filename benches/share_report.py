#!/usr/bin/env python3
"""The table of benches/share.sh, from what its run left in OUT.

    python3 benches/share_report.py OUT CLK_TCK

Each phase is measured from a second after it began to a second before the next one: CPU of
sender and receiver together (percent of one core), the rate sent (kbit/s), pictures a second
received; then the luma PSNR of the last received picture against the page where it stopped.
"""

import json
import math
import sys
from pathlib import Path

PHASES = ["rest", "scroll", "rest-again"]


def phases(path):
    """{name: (start, end)} in seconds since the epoch, trimmed by a second at each end."""
    marks = [line.split() for line in path.read_text().splitlines() if line.strip()]
    times = {name: float(t) for name, t in marks}
    order = [name for name, _ in marks]
    spans = {}
    for name, after in zip(order, order[1:]):
        spans[name] = (times[name] + 1.0, times[after] - 1.0)
    return spans


def rate(samples, key, span):
    """The change of `key` a second over `span`, from (time, value) samples."""
    inside = [(t, v[key]) for t, v in samples if span[0] <= t <= span[1] and key in v]
    if len(inside) < 2:
        return None
    (t0, v0), (t1, v1) = inside[0], inside[-1]
    return (v1 - v0) / (t1 - t0) if t1 > t0 else None


def ppm(path):
    data = path.read_bytes()
    fields, at = [], 0
    while len(fields) < 4:
        end = at
        while data[end] not in b" \n":
            end += 1
        fields.append(data[at:end])
        at = end + 1
    width, height = int(fields[1]), int(fields[2])
    return width, height, data[at:]


def psnr(got, want):
    gw, gh, g = ppm(got)
    ww, wh, w = ppm(want)
    if (gw, gh) != (ww, wh):
        return None
    squared = 0.0
    for i in range(0, len(w), 3):
        a = 0.299 * w[i] + 0.587 * w[i + 1] + 0.114 * w[i + 2]
        b = 0.299 * g[i] + 0.587 * g[i + 1] + 0.114 * g[i + 2]
        squared += (a - b) ** 2
    mse = squared / (ww * wh)
    return 10 * math.log10(255 * 255 / max(mse, 1e-9))


def confer(out, clk_tck):
    spans = phases(out / "confer-phases.log")
    start = float((out / "confer-start.log").read_text().split()[1])
    cpu = []
    for line in (out / "confer-cpu.log").read_text().splitlines():
        t, sharer, receiver = line.split()
        cpu.append((float(t), {"ticks": float(sharer) + float(receiver)}))
    stats = []
    for line in (out / "receiver.jsonl").read_text().splitlines():
        try:
            s = json.loads(line)
        except json.JSONDecodeError:
            continue
        if s.get("name") == "sharer":
            stats.append((start + s["t"], s))
    rows = {}
    for name in PHASES:
        span = spans[name]
        ticks = rate(cpu, "ticks", span)
        bits = [s["bitrate_in_bps"] for t, s in stats if span[0] <= t <= span[1]]
        rows[name] = {
            "cpu": ticks / clk_tck * 100 if ticks is not None else None,
            "kbps": sum(bits) / len(bits) / 1000 if bits else None,
            "fps": rate(stats, "screen_frames_decoded", span),
        }
    received = out / "confer-received.ppm"
    quality = psnr(received, out / "confer-final.ppm") if received.exists() else None
    return rows, quality


def chromium(out, clk_tck):
    spans = phases(out / "chromium-phases.log")
    samples, quality = [], None
    for line in (out / "chromium.jsonl").read_text().splitlines():
        s = json.loads(line)
        if "psnr" in s:
            quality = s["psnr"]["psnr"]
        elif "t" in s:
            samples.append((s["t"], s))
    rows = {}
    for name in PHASES:
        span = spans[name]
        ticks = rate(samples, "cpuTicks", span)
        sent = rate(samples, "bytesSent", span)
        rows[name] = {
            "cpu": ticks / clk_tck * 100 if ticks is not None else None,
            "kbps": sent * 8 / 1000 if sent is not None else None,
            "fps": rate(samples, "framesDecoded", span),
        }
    encoder = next((s.get("encoder") for _, s in reversed(samples) if s.get("encoder")), "?")
    return rows, quality, encoder


def cell(value, digits=0):
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(a, b):
    return "-" if a is None or b in (None, 0) else f"{a / b:.2f}"


def main():
    out, clk_tck = Path(sys.argv[1]), float(sys.argv[2])
    c_rows, c_psnr = confer(out, clk_tck)
    b_rows, b_psnr, encoder = chromium(out, clk_tck)
    print("1920x1080 screen of text, shared and received on this machine (sender + receiver)")
    print(f"Chromium's encoder: {encoder}")
    print()
    print("| phase | CPU % Confer | CPU % Chromium | CPU Confer/Chromium | kbit/s Confer "
          "| kbit/s Chromium | fps Confer | fps Chromium |")
    print("|---|---|---|---|---|---|---|---|")
    for name in PHASES:
        c, b = c_rows[name], b_rows[name]
        print(f"| {name} | {cell(c['cpu'])} | {cell(b['cpu'])} | {ratio(c['cpu'], b['cpu'])} "
              f"| {cell(c['kbps'])} | {cell(b['kbps'])} | {cell(c['fps'], 1)} "
              f"| {cell(b['fps'], 1)} |")
    print()
    print(f"Last picture received, luma PSNR against the page: Confer {cell(c_psnr, 1)} dB, "
          f"Chromium {cell(b_psnr, 1)} dB")


if __name__ == "__main__":
    main()
