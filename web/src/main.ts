/**
 * The live-room demo: a moving placeholder video with danmaku over it, the chat beside
 * it, likes, gifts, the online count and what moderators do, all through
 * `@throng/client` against the server that serves this page.
 *
 * The page gets its token from `/demo/token`, which only a server on its development
 * credentials answers: a real app's backend mints tokens itself and never lets the
 * browser near the API key.
 *
 * Everything that arrives is queued and drawn once per animation frame (`render.ts`), so
 * the page stays smooth whatever the message rate.
 * @module
 */

import {
  ThrongClient,
  ThrongError,
  type JsonValue,
  type Message,
  type ThrongClientOptions,
} from "@throng/client";
import { ChatView, CountUp, DanmakuView, FeedView, RecentKeys, type FeedItem } from "./render.ts";

/** Rows kept in the chat list. */
const CHAT_ROWS = 200;
/** Items kept in the event feed. */
const FEED_ITEMS = 50;
/** Gift ids remembered to show each gift once (as many as the SDK remembers per room). */
const GIFT_MEMORY = 4096;

interface DemoTokenAnswer {
  token: string;
  user: string;
  room: string;
  expires_in_s: number;
}

function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

/** `?user=` from the URL, else a random viewer name (each tab is another viewer). */
function chosenUser(): string {
  const asked = new URLSearchParams(location.search).get("user");
  if (asked) return asked;
  return `viewer-${Math.random().toString(36).slice(2, 7)}`;
}

class DemoTokenError extends Error {}

/** Asks the server for a token; its refusals become a message the page can show. */
async function fetchToken(user: string): Promise<DemoTokenAnswer> {
  const response = await fetch(`/demo/token?user=${encodeURIComponent(user)}`, { cache: "no-store" });
  const answer = (await response.json().catch(() => null)) as
    | DemoTokenAnswer
    | { error?: { code: string; message: string } }
    | null;
  if (response.ok && answer && "token" in answer) return answer;
  const message = answer && "error" in answer && answer.error ? answer.error.message : response.statusText;
  throw new DemoTokenError(`${response.status}: ${message}`);
}

function text(body: JsonValue): string {
  if (typeof body === "string") return body;
  if (body && typeof body === "object" && !Array.isArray(body) && typeof body.text === "string") return body.text;
  return JSON.stringify(body);
}

function field(body: JsonValue, name: string): JsonValue | undefined {
  return body && typeof body === "object" && !Array.isArray(body) ? body[name] : undefined;
}

/**
 * The WebSockets the client opened, so the test hook `cutConnection()` can break the
 * open one the way a lost network would (the client then reconnects and resumes).
 */
const sockets = new Set<WebSocket>();
class TrackedWebSocket extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    super(url, protocols);
    sockets.add(this);
    this.addEventListener("close", () => sockets.delete(this));
  }
}

/** A close code in the range the SDK answers by reconnecting, and that no server sends. */
const SIMULATED_CUT = 4499;

function main(): void {
  const user = chosenUser();
  const room = "demo";
  const chat = new ChatView(element("chat"), CHAT_ROWS);
  const danmaku = new DanmakuView(element("danmaku"), 8, 40, 4);
  const feed = new FeedView(element("feed"), FEED_ITEMS);
  const likes = new CountUp(element("like-count"));
  const gifts = new RecentKeys(GIFT_MEMORY);
  const status = element("status");
  const online = element("online");
  const rejoin = element<HTMLButtonElement>("rejoin");
  let giftCounter = 0;
  let taps = 0;
  let frames = 0;

  element("me").textContent = user;
  const event = (item: FeedItem) => feed.push(item);
  const setStatus = (state: string, detail = state) => {
    document.body.dataset.state = state;
    status.textContent = detail;
  };

  const options: ThrongClientOptions = {
    url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`,
    token: async () => (await fetchToken(user)).token,
    // A demo left open should come back by itself whenever the server does.
    reconnect: { initialMs: 300, maxMs: 5000, maxAttempts: Infinity },
    WebSocket: TrackedWebSocket,
  };
  const client = new ThrongClient(options);

  /** `live`: false for a first join's recent history, which is listed but does not fly. */
  const onMessage = (message: Message, live: boolean) => {
    const { body } = message;
    switch (message.kind) {
      case "text":
        chat.push({
          seq: message.seq,
          from: message.from,
          text: text(body),
          ...(message.from === user ? { tone: "self" as const } : {}),
          ...(message.from === "@server" ? { tone: "server" as const } : {}),
        });
        if (live) danmaku.push(text(body));
        break;
      case "like": {
        // The server's aggregate: `count` is the room's total so far.
        const count = field(body, "count");
        if (message.from === "@server" && typeof count === "number") {
          likes.target = Math.max(likes.target, count);
        }
        break;
      }
      case "gift": {
        // Reliable messages carry an id; the server may carry one again (a retry, a
        // resume), so it is shown once per id.
        const key = message.id ?? `seq:${message.seq}`;
        if (!gifts.add(key)) break;
        const gift = field(body, "gift");
        event({
          tone: "gift",
          giftId: key,
          text: `${message.from} sent ${typeof gift === "string" ? gift : "a gift"}`,
        });
        break;
      }
      case "join":
      case "leave": {
        // Merged presence: `{users, others}`; one notice: `{user}`.
        const users = field(body, "users");
        const one = field(body, "user");
        const names = Array.isArray(users) ? users.map(String) : typeof one === "string" ? [one] : [];
        const others = Number(field(body, "others") ?? 0);
        if (names.length === 0 && others === 0) break;
        const who = names.join(", ") + (others > 0 ? ` and ${others} more` : "");
        event({ tone: "presence", text: `${who} ${message.kind === "join" ? "joined" : "left"}` });
        break;
      }
      default:
        chat.push({ seq: message.seq, from: message.from, text: `[${message.kind}] ${text(body)}`, tone: "server" });
    }
  };

  let joinedOnce = false;
  client.on("messages", ({ msgs, skipped, source }) => {
    const live = joinedOnce || source !== "joined";
    for (const message of msgs) onMessage(message, live);
    const missed = (skipped?.system ?? 0) + (skipped?.high ?? 0) + (skipped?.low ?? 0);
    if (missed > 0) event({ tone: "connection", text: `${missed} messages were too old to catch up on` });
  });
  client.on("stats", (stats) => {
    online.textContent = stats.online.toLocaleString("en-US");
    const total = stats.counters.like;
    if (total !== undefined) likes.target = Math.max(likes.target, total);
  });
  client.on("moderation", ({ action, user: target, until, reason, by }) => {
    const whom = target === undefined ? "the room" : target === user ? "you" : target;
    const time = until === undefined ? "" : ` until ${new Date(until).toLocaleTimeString()}`;
    event({
      tone: "moderation",
      text: `${by} ${action.replaceAll("_", " ")}${action.endsWith("room") ? "" : ` ${whom}`}${time}${reason ? `: ${reason}` : ""}`,
    });
  });
  client.on("left", ({ reason }) => {
    if (reason === "kicked" || reason === "banned" || reason === "room_deleted") {
      event({ tone: "moderation", text: `you are out of the room (${reason.replace("_", " ")})` });
      setStatus("out", `out: ${reason.replace("_", " ")}`);
      rejoin.hidden = false;
    }
  });
  client.on("likesLost", ({ count, error }) => {
    event({ tone: "connection", text: `${count} likes were not counted${error ? ` (${error.message})` : ""}` });
  });
  client.on("disconnected", ({ willReconnect }) => {
    setStatus("reconnecting", willReconnect ? "reconnecting…" : "disconnected");
    event({ tone: "connection", text: "connection lost" });
  });
  client.on("reconnected", () => {
    setStatus("live");
    event({ tone: "connection", text: "reconnected; caught up on what was missed" });
  });
  client.on("closed", ({ reason }) => setStatus("closed", `stopped: ${reason}`));

  const join = async () => {
    const joined = await client.join(room);
    joinedOnce = true;
    online.textContent = joined.online.toLocaleString("en-US");
    rejoin.hidden = true;
    setStatus("live");
  };
  rejoin.addEventListener("click", () => void join().catch(showError));

  const showError = (error: unknown) => {
    const message = error instanceof ThrongError ? `${error.name}: ${error.message}` : String(error);
    event({ tone: "connection", text: message });
  };

  element("like").addEventListener("click", () => {
    taps++;
    element("taps").textContent = String(taps);
    client.like(room);
  });
  element("gift").addEventListener("click", () => {
    giftCounter++;
    // The id makes a retried send idempotent: a gift is never sent twice.
    const msgId = `${user}-${Date.now().toString(36)}-${giftCounter}`;
    client.send(room, "gift", { gift: "a rocket" }, { reliable: true, msgId }).catch(showError);
  });
  const form = element<HTMLFormElement>("compose");
  const input = element<HTMLInputElement>("say");
  form.addEventListener("submit", (submit) => {
    submit.preventDefault();
    const said = input.value.trim();
    if (!said) return;
    input.value = "";
    client.send(room, "text", { text: said }).catch(showError);
  });

  const video = element<HTMLCanvasElement>("video");
  const paint = video.getContext("2d");
  const frame = (now: number) => {
    frames++;
    if (paint) drawPlaceholderVideo(paint, video.width, video.height, now);
    chat.flush();
    danmaku.flush(now);
    feed.flush();
    likes.flush();
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);

  // Hooks for the browser tests and for anyone poking at the demo from the console.
  Object.assign(window, {
    throngDemo: {
      client,
      user,
      room,
      get frames() {
        return frames;
      },
      get chatRendered() {
        return chat.rendered;
      },
      get danmaku() {
        return { shown: danmaku.shown, skipped: danmaku.skipped };
      },
      get likeTarget() {
        return likes.target;
      },
      cutConnection() {
        for (const socket of sockets) socket.close(SIMULATED_CUT, "connection cut");
      },
    },
  });

  setStatus("connecting", "connecting…");
  client
    .connect()
    .then(join)
    .catch((error: unknown) => {
      setStatus("closed", error instanceof DemoTokenError ? error.message : String(error));
      showError(error);
    });
}

/** A slowly drifting colour field with a moving band: enough to show the danmaku flies over "video". */
function drawPlaceholderVideo(paint: CanvasRenderingContext2D, width: number, height: number, now: number): void {
  const t = now / 1000;
  const hue = (t * 12) % 360;
  const gradient = paint.createLinearGradient(0, 0, width, height);
  gradient.addColorStop(0, `hsl(${hue}, 60%, 30%)`);
  gradient.addColorStop(1, `hsl(${(hue + 80) % 360}, 60%, 18%)`);
  paint.fillStyle = gradient;
  paint.fillRect(0, 0, width, height);
  const band = ((t * 0.15) % 1) * (width + 60) - 30;
  paint.fillStyle = "rgba(255, 255, 255, 0.08)";
  paint.fillRect(band, 0, 30, height);
  paint.beginPath();
  paint.arc(width / 2 + Math.sin(t) * width * 0.2, height / 2 + Math.cos(t * 0.7) * height * 0.15, height * 0.12, 0, Math.PI * 2);
  paint.fillStyle = "rgba(255, 255, 255, 0.15)";
  paint.fill();
}

main();
