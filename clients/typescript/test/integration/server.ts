/**
 * Starts and stops a real `throng serve` for the integration tests. The global setup runs
 * it once; the tests reach it through `inject("throng")`.
 *
 * The binary comes from `THRONG_BIN` (scripts/test points it at the debug build). The
 * server gets a fresh data directory and port 0 (the kernel picks a free port); the URL
 * it really listens on is read from `<data dir>/server.json`, which `throng serve` writes
 * once it listens, and it counts as started when `/readyz` answers 200.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What the tests need to know about the running server (plain data: it crosses workers). */
export interface ThrongServerInfo {
  /** The `throng` binary, for `throng token`. */
  bin: string;
  dataDir: string;
  /** The server API's base URL, e.g. `http://127.0.0.1:41209`. */
  httpUrl: string;
  /** The WebSocket endpoint. */
  wsUrl: string;
  /** The server API key of the development credentials. */
  apiKey: string;
}

/** How long the server may take to start (a debug build on a busy machine). */
const START_DEADLINE_MS = 60_000;
/** How long it may take to drain and stop before it is killed. */
const STOP_DEADLINE_MS = 10_000;
/** The development credentials file of a data directory (see crates/throng-auth, dev.rs). */
const DEV_CREDENTIALS_FILE = "dev-credentials.json";

export interface RunningServer {
  info: ThrongServerInfo;
  stop(): Promise<void>;
}

/** The binary the tests run: `THRONG_BIN`, which must be set. */
export function throngBin(): string {
  const bin = process.env.THRONG_BIN;
  if (bin === undefined || bin === "") {
    throw new Error("set THRONG_BIN to the throng binary to test against (scripts/test sets it to the debug build)");
  }
  return bin;
}

export async function startServer(bin: string): Promise<RunningServer> {
  const dataDir = await mkdtemp(join(tmpdir(), "throng-sdk-it-"));
  // The server's output goes to a file in its data directory, shown if it fails to start.
  const logPath = join(dataDir, "server.log");
  const log = createWriteStream(logPath);
  const child = spawn(bin, ["serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: serverEnvironment(),
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited: string | undefined;
  child.on("exit", (code, signal) => {
    exited = `exited with ${code ?? signal}`;
  });
  child.on("error", (error) => {
    exited = `could not start: ${error.message}`;
  });

  const stop = () => stopServer(child, dataDir);
  try {
    const deadline = Date.now() + START_DEADLINE_MS;
    let httpUrl: string | undefined;
    for (;;) {
      if (exited !== undefined) throw new Error(`throng serve ${exited}`);
      if (Date.now() > deadline) throw new Error(`throng serve was not ready within ${START_DEADLINE_MS} ms`);
      httpUrl ??= await readServerUrl(dataDir);
      if (httpUrl !== undefined && (await isReady(httpUrl))) break;
      await sleep(100);
    }
    const credentials = JSON.parse(await readFile(join(dataDir, DEV_CREDENTIALS_FILE), "utf8")) as { api_key: string };
    const wsUrl = `${httpUrl.replace(/^http/, "ws")}/v1/ws`;
    return { info: { bin, dataDir, httpUrl, wsUrl, apiKey: credentials.api_key }, stop };
  } catch (error) {
    const output = await readFile(logPath, "utf8").catch(() => "");
    await stop();
    throw new Error(`${(error as Error).message}\n--- server output ---\n${output}`);
  }
}

/**
 * The environment for the server binary: ours without any `THRONG_*` variable. The
 * binary reads every one of them as a configuration override and refuses unknown ones,
 * starting with `THRONG_BIN` itself; the tests want the embedded defaults.
 */
export function serverEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { NO_COLOR: "1" };
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("THRONG_")) env[name] = value;
  }
  return env;
}

/** The URL in `server.json`, or `undefined` while the server has not written it yet. */
async function readServerUrl(dataDir: string): Promise<string | undefined> {
  try {
    const text = await readFile(join(dataDir, "server.json"), "utf8");
    return (JSON.parse(text) as { url: string }).url;
  } catch {
    return undefined; // not there yet, or caught half-written
  }
}

async function isReady(httpUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${httpUrl}/readyz`);
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** SIGTERM (the server drains), SIGKILL if it is still running after the deadline. */
async function stopServer(child: ChildProcess, dataDir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_DEADLINE_MS);
    await exited;
    clearTimeout(timer);
  }
  await rm(dataDir, { recursive: true, force: true });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
