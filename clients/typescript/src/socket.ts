/**
 * The part of the WebSocket API the client uses: the browser's `WebSocket`, Node 22's
 * global one and the `ws` package's class all fit it, and so does a test double.
 * @module
 */

/** The subset of a WebSocket instance the client touches. */
export interface WebSocketLike {
  readonly readyState: number;
  /** The subprotocol the server selected; empty when it selected none. */
  readonly protocol: string;
  binaryType: string;
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  // Handler parameters are `any` because each implementation types its events
  // differently (DOM `MessageEvent`, `ws`'s own classes); the client reads only
  // `data`, `code` and `reason`, and checks them at run time.
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}

/** A WebSocket class: `globalThis.WebSocket` in browsers, `WebSocket` from `ws` in Node 20. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** `readyState` of an open socket, the same in every implementation. */
export const WEBSOCKET_OPEN = 1;
