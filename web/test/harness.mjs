// What the browser tests share: a real `throng serve` on a fresh data directory and a
// free loopback port, Debian's Chromium driven headless through playwright-core, and the
// server API reached with the API key of the generated development credentials.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const OUTPUT_DIR = path.resolve(here, "../test-output");

/** The server binary: `THRONG_BIN`, else the workspace's debug build. */
export const THRONG_BIN = process.env.THRONG_BIN ?? path.resolve(here, "../../target/debug/throng");

/** Upper bound of any single wait; generous, the machine is shared and noisy. */
export const PATIENCE_MS = 30_000;

/**
 * The server's environment: this one without `THRONG_*` variables, which the server
 * would read as settings (`THRONG_BIN` would be refused as an unknown one), so that the
 * server runs on its defaults whatever the shell exported.
 */
function serverEnvironment() {
  const env = { RUST_LOG: "warn" };
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("THRONG_")) env[name] = value;
  }
  return env;
}

/**
 * Starts `throng serve --listen 127.0.0.1:0` on a new data directory, reads the address
 * it prints, and waits for `/readyz`. The caller stops it with `stop()`.
 */
export async function startServer() {
  const dataDir = await mkdtemp(path.join(tmpdir(), "throng-web-"));
  const child = spawn(THRONG_BIN, ["serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: serverEnvironment(),
  });
  let output = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no address printed within ${PATIENCE_MS} ms:\n${output}`)), PATIENCE_MS);
    const read = (chunk) => {
      output += chunk;
      const found = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => reject(new Error(`throng serve exited with ${code}:\n${output}`)));
    child.on("error", reject);
  });
  await waitUntil(async () => (await fetch(`${url}/readyz`).catch(() => null))?.ok, "the server is ready");
  const credentials = JSON.parse(await readFile(path.join(dataDir, "dev-credentials.json"), "utf8"));
  return {
    url,
    dataDir,
    apiKey: credentials.api_key,
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A request to the server API; resolves with `{ status, body }`. */
export async function api(server, method, apiPath, body) {
  const response = await fetch(`${server.url}${apiPath}`, {
    method,
    headers: {
      authorization: `Bearer ${server.apiKey}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (a 204): keep the text
  }
  return { status: response.status, body: parsed };
}

/** Publishes into the demo room as the server; throws unless it was accepted. */
export async function publish(server, message) {
  const { status, body } = await api(server, "POST", "/v1/rooms/demo/messages", message);
  if (status !== 201) throw new Error(`publish answered ${status}: ${JSON.stringify(body)}`);
  return body;
}

/** Polls `check` until it returns something truthy, or fails after `PATIENCE_MS`. */
export async function waitUntil(check, what, patienceMs = PATIENCE_MS) {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Debian's Chromium, headless (playwright-core downloads no browser of its own). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu"],
  });
}

/**
 * Opens the demo page as `user` in a new browser context (its own cookies and cache:
 * another viewer) and waits until it has joined the room.
 */
export async function openDemo(browser, server, user) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(String(error)));
  page.problems = problems;
  await page.goto(`${server.url}/?user=${encodeURIComponent(user)}`);
  await page.waitForSelector('body[data-state="live"]', { timeout: PATIENCE_MS });
  return page;
}

/** Saves a screenshot under test-output/ so that a failure can be looked at. */
export async function screenshot(page, name) {
  await mkdir(OUTPUT_DIR, { recursive: true });
  const file = path.join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Texts of the chat rows on a page, oldest first. */
export async function chatTexts(page) {
  return page.$$eval("#chat li", (rows) => rows.map((row) => row.textContent ?? "").reverse());
}
