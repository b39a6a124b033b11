// Drives Debian's headless Chromium for the browser tests (tests/support/browser.rs): one JSON
// command a line on stdin, one JSON answer a line on stdout, so a Rust test can open pages,
// click, type and read them. Page consoles and errors go to stderr, prefixed with the page.
//
//   {"id":1,"op":"open","page":"guest","url":"http://127.0.0.1:1234/j/room?name=Ann"}
//   {"id":2,"op":"click","page":"guest","selector":"#join"}
//   {"id":3,"op":"fill","page":"guest","selector":"#name","value":"Ann"}
//   {"id":4,"op":"eval","page":"guest","expression":"document.title"}
//   {"id":5,"op":"screenshot","page":"guest","width":1100,"height":700,"path":"/tmp/a.jpg"}
//   {"id":6,"op":"close","page":"guest"}
//
// Answers: {"id":1,"ok":VALUE} or {"id":1,"error":"..."}. End of stdin closes the browser.
import { createInterface } from "node:readline";
import { createRequire } from "node:module";

const { chromium } = createRequire(import.meta.url)("playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Playwright mutes audio by default; remote audio must play to be counted.
  ignoreDefaultArgs: ["--mute-audio"],
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
  ],
});
browser.on("disconnected", () => process.stderr.write("the browser is gone (disconnected)\n"));
const pages = new Map();
// How long a click or a fill waits for its element. Generous: it only bounds a failure, and
// the pages share two cores with everything a test starts.
const ACTION_LIMIT = 20000;

async function open(name, url) {
  // A context each: pages share nothing (storage, permissions), like two people.
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (m) => process.stderr.write(`[${name}] ${m.type()}: ${m.text()}\n`));
  page.on("pageerror", (e) => process.stderr.write(`[${name}] page error: ${e.message}\n`));
  page.on("crash", () => process.stderr.write(`[${name}] the page crashed\n`));
  await page.goto(url);
  pages.set(name, { context, page });
  return true;
}

function pageOf(name) {
  const entry = pages.get(name);
  if (!entry) throw new Error(`no page called ${name}`);
  return entry.page;
}

// Runs an action on an element of the page; when it fails, says what state the page was in,
// so that a failed run tells a missing element from a page that no longer answers.
async function act(command, action) {
  const page = pageOf(command.page);
  try {
    await action(page);
  } catch (e) {
    const answer = page
      .evaluate((selector) => ({
        readyState: document.readyState,
        found: document.querySelector(selector) !== null,
      }), command.selector)
      .then((state) => JSON.stringify(state), (err) => `no answer: ${err.message}`);
    const timeout = new Promise((done) => setTimeout(() => done("no answer in 5 s"), 5000));
    const state = await Promise.race([answer, timeout]);
    throw new Error(`${e.message}\npage ${page.url()} (closed: ${page.isClosed()}): ${state}`);
  }
}

async function run(command) {
  switch (command.op) {
    case "open":
      return open(command.page, command.url);
    case "click":
      await act(command, (page) => page.click(command.selector, { timeout: ACTION_LIMIT }));
      return true;
    case "fill":
      await act(command, (page) =>
        page.fill(command.selector, command.value, { timeout: ACTION_LIMIT }));
      return true;
    case "eval":
      return pageOf(command.page).evaluate(command.expression);
    case "screenshot": {
      // The page at this window size, as a person would see it (JPEG: the test reads it with
      // the JPEG decoder Confer already has).
      const page = pageOf(command.page);
      await page.setViewportSize({ width: command.width, height: command.height });
      await page.screenshot({ path: command.path, type: "jpeg", quality: 90 });
      return true;
    }
    case "close": {
      const entry = pages.get(command.page);
      pages.delete(command.page);
      await entry?.context.close();
      return true;
    }
    default:
      throw new Error(`unknown op ${command.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let command;
  try {
    command = JSON.parse(line);
  } catch (e) {
    process.stdout.write(JSON.stringify({ id: null, error: `not JSON: ${e.message}` }) + "\n");
    continue;
  }
  try {
    const ok = await run(command);
    process.stdout.write(JSON.stringify({ id: command.id, ok: ok === undefined ? null : ok }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ id: command.id, error: String(e.message || e) }) + "\n");
  }
}
await browser.close();
