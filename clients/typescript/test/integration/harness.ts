/**
 * What the integration tests share: tokens minted by `throng token`, server API calls
 * with the development API key, fresh room names, clients on the `ws` package whose
 * frames are recorded both ways, and waiting for a condition with a deadline.
 */

import { decode as msgpackDecode } from "@msgpack/msgpack";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { inject } from "vitest";
import { WebSocket } from "ws";
import {
  ThrongClient,
  type CodecName,
  type Message,
  type ThrongClientOptions,
  type ThrongEvents,
} from "../../src/index.js";
import { serverEnvironment, type ThrongServerInfo } from "./server.js";

const run = promisify(execFile);

/** The deadline of every wait: generous, the machine is noisy. */
export const WAIT_MS = 10_000;

export function server(): ThrongServerInfo {
  return inject("throng");
}

/** A development token for `user`, minted by the server binary's `token` command. */
export async function mintToken(user: string, roles: string[] = []): Promise<string> {
  const { bin, dataDir } = server();
  const args = ["token", "--data-dir", dataDir, "--user", user, ...roles.flatMap((role) => ["--role", role])];
  const { stdout } = await run(bin, args, { env: serverEnvironment() });
  return stdout.trim();
}

export interface ApiReply {
  status: number;
  body: unknown;
}

/** Calls the server API with the development API key. */
export async function api(method: string, path: string, body?: unknown): Promise<ApiReply> {
  const { httpUrl, apiKey } = server();
  const init: RequestInit = { method, headers: { authorization: `Bearer ${apiKey}` } };
  if (body !== undefined) {
    init.headers = { ...init.headers, "content-type": "application/json" };
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`${httpUrl}${path}`, init);
  const text = await response.text();
  return { status: response.status, body: text === "" ? undefined : (JSON.parse(text) as unknown) };
}

/** Like `api`, but throws unless the status is 2xx; returns the body. */
export async function apiOk(method: string, path: string, body?: unknown): Promise<unknown> {
  const reply = await api(method, path, body);
  if (reply.status < 200 || reply.status > 299) {
    throw new Error(`${method} ${path} answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  }
  return reply.body;
}

/** A room name no other test uses. */
export function uniqueRoom(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Creates `room` through the server API, with `settings` over the defaults. */
export async function createRoom(room: string, settings?: Record<string, unknown>): Promise<void> {
  await apiOk("POST", "/v1/rooms", settings === undefined ? { id: room } : { id: room, settings });
}

/**
 * Polls `probe` until it returns something other than `undefined` or `false`, and
 * returns that; fails after `timeoutMs` saying what it waited for.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number = WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Sleeps; only for letting something that must not happen have its chance. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

type Frame = Record<string, unknown>;

export interface TestClientOptions {
  roles?: string[];
  codec?: CodecName;
  /** Drop the client's `ack` frames on their way out, so the server carries messages again. */
  dropAcks?: boolean;
  client?: Partial<ThrongClientOptions>;
}

/** A connected `ThrongClient` with everything it emitted, sent and received recorded. */
export interface TestClient {
  user: string;
  client: ThrongClient;
  /** Every event the client emitted, in order. */
  events: { [K in keyof ThrongEvents]: ThrongEvents[K][] };
  /** Frames the client sent (acks dropped by `dropAcks` are not here: they never left). */
  sent: Frame[];
  /** Frames the server sent, as they arrived, before the SDK read them. */
  received: Frame[];
  /** The sockets the client opened, oldest first; the last one is the live one. */
  sockets: WebSocket[];
  /** The messages of `room` that reached the `messages` event, in order. */
  messages(room: string): Message[];
}

const EVENT_NAMES: (keyof ThrongEvents)[] = [
  "messages",
  "notify",
  "left",
  "moderation",
  "attributes",
  "stats",
  "likesLost",
  "serverError",
  "disconnected",
  "reconnected",
  "closed",
];

const openClients = new Set<ThrongClient>();

/** Connects a client for `user` (a token minted for it) and records what it does. */
export async function connectClient(user: string, options: TestClientOptions = {}): Promise<TestClient> {
  const sent: Frame[] = [];
  const received: Frame[] = [];
  const sockets: WebSocket[] = [];
  const dropAcks = options.dropAcks ?? false;
  class RecordingWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      sockets.push(this);
      this.on("message", (data, isBinary) => received.push(decodeFrame(data, isBinary)));
    }

    override send(data: unknown, ...rest: unknown[]): void {
      const frame = decodeFrame(data, typeof data !== "string");
      if (dropAcks && frame.type === "ack") return;
      sent.push(frame);
      (super.send as (data: unknown, ...rest: unknown[]) => void)(data, ...rest);
    }
  }
  const roles = options.roles ?? [];
  const client = new ThrongClient({
    url: server().wsUrl,
    token: () => mintToken(user, roles),
    WebSocket: RecordingWebSocket,
    codec: options.codec ?? "json",
    reconnect: { initialMs: 50, maxMs: 500, maxAttempts: 20 },
    ...options.client,
  });
  const events = Object.fromEntries(EVENT_NAMES.map((name) => [name, []])) as unknown as TestClient["events"];
  for (const name of EVENT_NAMES) {
    client.on(name, (payload) => (events[name] as unknown[]).push(payload));
  }
  openClients.add(client);
  await client.connect();
  return {
    user,
    client,
    events,
    sent,
    received,
    sockets,
    messages: (room) => events.messages.filter((e) => e.room === room).flatMap((e) => e.msgs),
  };
}

/** Closes every client `connectClient` opened (call from `afterEach`). */
export function closeAllClients(): void {
  for (const client of openClients) client.close();
  openClients.clear();
}

function decodeFrame(data: unknown, isBinary: boolean): Frame {
  const bytes = Array.isArray(data)
    ? Buffer.concat(data as Buffer[])
    : data instanceof ArrayBuffer
      ? Buffer.from(data)
      : ArrayBuffer.isView(data)
        ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
        : undefined;
  if (!isBinary) return JSON.parse(bytes === undefined ? String(data) : bytes.toString("utf8")) as Frame;
  if (bytes === undefined) throw new Error(`binary frame of an unexpected type: ${typeof data}`);
  return msgpackDecode(bytes) as Frame;
}
