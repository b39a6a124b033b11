// Two headless Chromiums (Debian's) in a 1:1 720p30 H.264 call through `confer serve`, each a
// browser of its own, on the page benches/browser/loss.html (a synthetic camera with Confer's
// stripe, so glass-to-glass latency is read from the pixels). For benches/loss.sh, which runs it
// inside its lossy network namespace. Prints, as JSON, each receiver's getStats() figures once a
// second over the call, the glass-to-glass latency of each picture decoded, the window the bench
// measures, and the CPU both process trees used over that window.
//
//   node loss.mjs WS_URL ROOM SECONDS SKIP
//
// Both browsers start first; then the first joins, and the second a second later (a browser
// starting takes CPU that the other's congestion control would read as a congested network).
// The call lasts SECONDS from the second participant's arrival; the window is from SKIP
// seconds after that arrival to one second before the end.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { treeTicks } from "./cpu.mjs";

// playwright-core is the browser tests' (tests/browser, installed by benches/loss.sh).
const tools = new URL("../../tests/browser/package.json", import.meta.url);
const { chromium } = createRequire(tools)("playwright-core");

const [wsUrl, room] = [process.argv[2], process.argv[3]];
const [seconds, skip] = [Number(process.argv[4] || 40), Number(process.argv[5] || 5)];
const page = readFileSync(new URL("./loss.html", import.meta.url), "utf8");
const args = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
  "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
  // The page is handed over by Playwright, not loaded from the loopback server, so Chromium
  // counts it as public and blocks its WebSocket to loopback (Local Network Access).
  "--disable-features=LocalNetworkAccessChecks",
  // Timers and rendering at full rate although nobody looks at the page: the camera is a timer.
  "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function participant(name) {
  const server = await chromium.launchServer({
    executablePath: "/usr/bin/chromium", headless: true, args,
    ignoreDefaultArgs: ["--mute-audio"],
  });
  const browser = await chromium.connect(server.wsEndpoint());
  const tab = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  tab.on("pageerror", (e) => process.stderr.write(`[${name}] page error: ${e.message}\n`));
  // The page comes from the signaling server's own origin (served from here, not by it).
  const origin = new URL(wsUrl.replace(/^ws/, "http")).origin;
  await tab.route(`${origin}/bench*`, (route) => route.fulfill({ contentType: "text/html", body: page }));
  await tab.goto(`${origin}/bench?ws=${encodeURIComponent(wsUrl)}&room=${room}&name=${name}`);
  return { name, server, browser, tab, pid: server.process().pid };
}

// One receiver's figures now: the cumulative counters of getStats() as they stand.
async function snapshot(tab) {
  return tab.evaluate(async () => {
    if (window.bench.error) return { error: window.bench.error };
    const pc = [...window.bench.peers.values()][0];
    if (!pc) return { framesDecoded: 0 };
    const stats = await pc.getStats();
    const out = { wall: performance.timeOrigin + performance.now(), framesDecoded: 0, ice: pc.iceConnectionState };
    for (const s of stats.values()) {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        Object.assign(out, {
          framesDecoded: s.framesDecoded || 0, fps: s.framesPerSecond, width: s.frameWidth,
          height: s.frameHeight, codec: stats.get(s.codecId)?.mimeType, freezeCount: s.freezeCount,
          totalFreezesDuration: s.totalFreezesDuration, nackCount: s.nackCount, pliCount: s.pliCount,
          videoJitterBufferDelay: s.jitterBufferDelay, videoJitterBufferEmitted: s.jitterBufferEmittedCount,
          totalDecodeTime: s.totalDecodeTime, bytesReceived: s.bytesReceived,
          packetsLost: s.packetsLost, packetsReceived: s.packetsReceived,
          // Where the bytes beyond the pictures go: retransmissions and forward error correction.
          retransmittedBytesReceived: s.retransmittedBytesReceived, fecBytesReceived: s.fecBytesReceived,
          fecPacketsReceived: s.fecPacketsReceived, keyFramesDecoded: s.keyFramesDecoded,
        });
      }
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        Object.assign(out, {
          concealedSamples: s.concealedSamples, totalSamplesReceived: s.totalSamplesReceived,
          audioJitterBufferDelay: s.jitterBufferDelay, audioJitterBufferEmitted: s.jitterBufferEmittedCount,
        });
      }
      if (s.type === "outbound-rtp" && s.kind === "video") {
        // What this side sends (the other's receiver is measured): why it sends what it does.
        Object.assign(out, {
          sentFps: s.framesPerSecond, targetBitrate: s.targetBitrate, bytesSent: s.bytesSent,
          limitation: s.qualityLimitationReason, encoder: s.encoderImplementation,
          qp: s.framesEncoded ? s.qpSum / s.framesEncoded : undefined, keyFramesSent: s.keyFramesEncoded,
          retransmittedBytesSent: s.retransmittedBytesSent,
        });
      }
      if (s.type === "candidate-pair") {
        // All that arrived (media, RTCP, STUN), as Confer's bitrate_in counts it: summed over the
        // pairs, so the total only grows should the selected pair change.
        out.pairBytesReceived = (out.pairBytesReceived || 0) + (s.bytesReceived || 0);
      }
      if (s.type === "transport" && stats.get(s.selectedCandidatePairId)) {
        // The pair the media uses (others may be nominated too, with counters of their own).
        const pair = stats.get(s.selectedCandidatePairId);
        out.rtt = pair.currentRoundTripTime;
        out.availableOutgoingBitrate = pair.availableOutgoingBitrate;
        out.protocol = stats.get(pair.localCandidateId)?.protocol;
      }
    }
    return out;
  });
}

// Glass-to-glass entries [wall ms, latency ms] gathered by the page since the last call.
const takeG2g = (tab) => tab.evaluate(() => window.bench.g2g.splice(0));

const people = [];
// Whatever happens, the browsers go (Playwright's own pids); the bench also bounds this run.
try {
  // Both browsers up first, then the two join a second apart, as the native participants do.
  people.push(await participant("first"));
  people.push(await participant("second"));
  await sleep(2000);
  await people[0].tab.evaluate(() => window.join());
  await sleep(1000);
  await people[1].tab.evaluate(() => window.join());
  const arrived = Date.now();
  const deadline = arrived + 30000;
  while ((await Promise.all(people.map((p) => snapshot(p.tab)))).some((r) => !(r.framesDecoded > 0))) {
    if (Date.now() > deadline) {
      throw new Error(`the browsers did not connect: ${JSON.stringify(await Promise.all(people.map((p) => snapshot(p.tab))))}`);
    }
    await sleep(250);
  }
  const windowStart = arrived + skip * 1000;
  const windowEnd = arrived + (seconds - 1) * 1000;
  const samples = people.map(() => []);
  const g2g = people.map(() => []);
  let cpu = null;
  let start = null;
  // Once a second: each receiver's counters, the stripes read, and the CPU at the window's ends.
  for (let next = Date.now(); next <= windowEnd; next += 1000) {
    await sleep(Math.max(0, next - Date.now()));
    const now = Date.now();
    if (start === null && now >= windowStart) {
      start = { ticks: people.reduce((sum, p) => sum + treeTicks(p.pid), 0), at: process.hrtime.bigint() };
    }
    const snaps = await Promise.all(people.map((p) => snapshot(p.tab)));
    for (const [i, p] of people.entries()) {
      samples[i].push({ t: (now - arrived) / 1000, ...snaps[i] });
      g2g[i].push(...(await takeG2g(p.tab)));
    }
  }
  const hz = 100; // Linux USER_HZ
  const elapsed = Number(process.hrtime.bigint() - start.at) / 1e9;
  cpu = (people.reduce((sum, p) => sum + treeTicks(p.pid), 0) - start.ticks) / hz / elapsed;
  const bad = await Promise.all(people.map((p) => p.tab.evaluate(() => window.bench.stripesBad)));
  console.log(JSON.stringify({
    cpu, windowStart, windowEnd, arrived,
    received: people.map((p, i) => ({ name: p.name, samples: samples[i], g2g: g2g[i], stripesBad: bad[i] })),
  }));
} finally {
  for (const p of people) {
    await p.browser.close().catch(() => {});
    await p.server.close().catch(() => {});
  }
}
