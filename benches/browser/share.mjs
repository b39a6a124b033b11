// Chromium's run of benches/share.sh: a Chromium with a window (on the bench's X server, moved
// off the screen it shares) shares the whole screen to itself (benches/browser/share.html)
// while benches' page program rests, scrolls and rests. Prints JSON lines: the figures and the
// browser's CPU once a second, then the received picture's PSNR against the page's last.
//
//   node share.mjs PAGE_URL PHASES_FILE REFERENCE_URL
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { treeTicks } from "./cpu.mjs";

const tools = new URL("../../tests/browser/package.json", import.meta.url);
const { chromium } = createRequire(tools)("playwright-core");
const [pageUrl, phasesFile, referenceUrl] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = await chromium.launchServer({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: false,
  args: [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    // Picks the whole screen without asking (with --use-fake-ui-for-media-stream as well,
    // capture fails: "Could not start video source").
    "--auto-select-desktop-capture-source=Entire screen",
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    // Its own window stays off the screen it shares.
    "--window-position=4000,0", "--window-size=640,480",
  ],
});
const browser = await chromium.connect(server.wsEndpoint());
const root = server.process().pid;
const page = await browser.newPage();
page.on("console", (m) => process.stderr.write(`[page] ${m.text()}\n`));
await page.goto(pageUrl);
await page.click("#start");
const settings = await page.evaluate(() => window.started);
process.stdout.write(JSON.stringify({ settings }) + "\n");
// Once a second until the page program is done.
const done = () => existsSync(phasesFile) && /^done /m.test(readFileSync(phasesFile, "utf8"));
for (let i = 0; i < 600 && !done(); i++) {
  const figures = await page.evaluate(() => window.figures());
  figures.cpuTicks = treeTicks(root);
  process.stdout.write(JSON.stringify(figures) + "\n");
  await sleep(1000);
}
const psnr = await page.evaluate((url) => window.psnr(url), referenceUrl);
process.stdout.write(JSON.stringify({ psnr }) + "\n");
await browser.close();
await server.close();
