// Two headless Chromiums (Debian's) in a 1:1 720p30 H.264 call through `confer serve`, each a
// browser of its own: prints what they received and the CPU both process trees used over the
// steady part of the call, as JSON. Run by benches/call.sh beside the native call.
//
//   node call.mjs WS_URL SECONDS [Y4M]
//
// With Y4M (benches/browser/pattern_y4m.py), the fake camera shows the same moving scene as
// Confer's synthetic camera, so both encoders get the same work.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { treeTicks } from "./cpu.mjs";

// playwright-core is the browser tests' (tests/browser, installed by benches/call.sh).
const tools = new URL("../../tests/browser/package.json", import.meta.url);
const { chromium } = createRequire(tools)("playwright-core");

const [wsUrl, seconds, y4m] = [process.argv[2], Number(process.argv[3] || 20), process.argv[4]];
const page = readFileSync(new URL("./call.html", import.meta.url), "utf8");
const args = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream=fps=30",
  "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
  // The page is handed over by Playwright, not loaded from the loopback server, so Chromium
  // counts it as public and blocks its WebSocket to loopback (Local Network Access).
  "--disable-features=LocalNetworkAccessChecks",
  ...(y4m ? [`--use-file-for-fake-video-capture=${y4m}`] : []),
];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function participant(name) {
  const server = await chromium.launchServer({
    executablePath: "/usr/bin/chromium", headless: true, args,
    ignoreDefaultArgs: ["--mute-audio"],
  });
  const browser = await chromium.connect(server.wsEndpoint());
  const tab = await browser.newPage();
  // The page comes from the signaling server's own origin (served from here, not by it).
  const origin = new URL(wsUrl.replace(/^ws/, "http")).origin;
  await tab.route(`${origin}/bench*`, (route) => route.fulfill({ contentType: "text/html", body: page }));
  const url = `${origin}/bench?ws=${encodeURIComponent(wsUrl)}&room=chromium&name=${name}`;
  await tab.goto(url);
  return { name, server, browser, tab, pid: server.process().pid };
}

async function received(tab) {
  return tab.evaluate(async () => {
    if (window.bench.error) return { error: window.bench.error };
    const pc = [...window.bench.peers.values()][0];
    if (!pc) return { frames: 0, socket: typeof socket === "undefined" ? "none" : socket.readyState };
    const stats = await pc.getStats();
    const out = { frames: 0, ice: pc.iceConnectionState, signaling: pc.signalingState };
    for (const s of stats.values()) {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        Object.assign(out, { frames: s.framesDecoded || 0, fps: s.framesPerSecond, width: s.frameWidth,
          height: s.frameHeight, codec: stats.get(s.codecId)?.mimeType, freezes: s.freezeCount,
          bytes: s.bytesReceived });
      }
      if (s.type === "inbound-rtp" && s.kind === "audio") out.audioSamples = s.totalSamplesReceived;
    }
    return out;
  });
}

const people = [];
try {
  people.push(await participant("first"));
  await sleep(1000);
  people.push(await participant("second"));
  const deadline = Date.now() + 20000;
  while ((await Promise.all(people.map((p) => received(p.tab)))).some((r) => !(r.frames > 0))) {
    if (Date.now() > deadline) {
      throw new Error(`the browsers did not connect: ${JSON.stringify(await Promise.all(people.map((p) => received(p.tab))))}`);
    }
    await sleep(250);
  }
  await sleep(4000);
  const hz = 100; // Linux USER_HZ
  const start = people.reduce((sum, p) => sum + treeTicks(p.pid), 0);
  const t0 = process.hrtime.bigint();
  const before = await Promise.all(people.map((p) => received(p.tab)));
  await sleep((seconds - 8) * 1000);
  const end = people.reduce((sum, p) => sum + treeTicks(p.pid), 0);
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const stats = await Promise.all(people.map((p) => received(p.tab)));
  for (const [i, s] of stats.entries()) s.kbps = Math.round(((s.bytes - before[i].bytes) * 8) / elapsed / 1000);
  console.log(JSON.stringify({ cpu: (end - start) / hz / elapsed, received: stats }));
} finally {
  for (const p of people) {
    await p.browser.close().catch(() => {});
    await p.server.close().catch(() => {});
  }
}
