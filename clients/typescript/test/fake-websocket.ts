import { decode as msgpackDecode, encode as msgpackEncode } from "@msgpack/msgpack";
import type { WebSocketConstructor, WebSocketLike } from "../src/index.js";

/**
 * An in-memory stand-in for the browser's WebSocket object: the client drives it through
 * the WebSocketLike interface, the test plays the other end by hand (`open`, `receive`,
 * `closeFromServer`, `fail`). It is a test double of the browser API, not a server: it
 * answers nothing on its own.
 */
export class FakeWebSocket implements WebSocketLike {
  readyState = 0;
  protocol = "";
  binaryType = "blob";
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  /** What the client sent, as it handed it to `send`. */
  readonly sent: (string | Uint8Array)[] = [];
  /** The close code and reason the client passed to `close`, if it closed. */
  closedByClient: { code: number | undefined; reason: string | undefined } | undefined;

  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}

  send(data: string | ArrayBufferLike | ArrayBufferView): void {
    if (this.readyState !== 1) throw new Error("InvalidStateError: not open");
    this.sent.push(typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer));
  }

  close(code?: number, reason?: string): void {
    this.closedByClient = { code, reason };
    this.readyState = 2;
  }

  // --- the test's side -----------------------------------------------------------------

  /** The handshake succeeds; the server selects `protocol` (default: the first offered). */
  open(protocol: string = this.protocols[0] ?? ""): void {
    this.readyState = 1;
    this.protocol = protocol;
    this.onopen?.({});
  }

  /** A frame from the server, as text (JSON) or binary (MessagePack) by the selected protocol. */
  receive(frame: object): void {
    const data =
      this.protocol === "throng.v1.msgpack" ? toArrayBuffer(msgpackEncode(frame)) : JSON.stringify(frame);
    this.onmessage?.({ data });
  }

  /** The server closes the connection with a close frame. */
  closeFromServer(code: number, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** The connection fails (refused handshake, network loss): error, then close 1006. */
  fail(): void {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code: 1006, reason: "" });
  }

  /** The client's frames, decoded from whichever codec each one used. */
  sentFrames(): Record<string, unknown>[] {
    return this.sent.map(
      (data) => (typeof data === "string" ? JSON.parse(data) : msgpackDecode(data)) as Record<string, unknown>,
    );
  }

  /** The last frame the client sent. */
  lastFrame(): Record<string, unknown> {
    const frames = this.sentFrames();
    const last = frames[frames.length - 1];
    if (last === undefined) throw new Error("the client sent nothing");
    return last;
  }
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** A WebSocket class for one test that records every socket the client opens. */
export function fakeWebSocketClass(): { WebSocket: WebSocketConstructor; sockets: FakeWebSocket[] } {
  const sockets: FakeWebSocket[] = [];
  class RecordingWebSocket extends FakeWebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols]);
      sockets.push(this);
    }
  }
  return { WebSocket: RecordingWebSocket, sockets };
}
