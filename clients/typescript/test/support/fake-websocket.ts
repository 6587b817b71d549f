/**
 * A scripted WebSocket for unit tests of the push channel: each socket the channel opens is
 * recorded, and the test opens it, sends it frames, reads what the client sent, and closes it,
 * so connects, drops and pushes happen exactly when the test says.
 */
import type { WebSocketConstructor, WebSocketLike } from "../../src/push.js";

/** One socket the channel made, driven by the test. */
export class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  /** Frames the client sent, parsed. */
  readonly sent: unknown[] = [];
  /** The close the client asked for, if it did. */
  closedByClient: { code: number | undefined; reason: string | undefined } | undefined;

  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(JSON.parse(data));
  }

  close(code?: number, reason?: string): void {
    this.closedByClient = { code, reason };
    this.readyState = 2;
  }

  /** The server accepts the connection. */
  accept(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** The server sends one JSON text frame. */
  receive(frame: unknown): void {
    this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
  }

  /** The connection ends (refused before open: 1006, as a browser reports a 401). */
  drop(code = 1006, reason = ""): void {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code, reason });
  }

  /** The frames the client sent of one type. */
  sentOf(type: string): unknown[] {
    return this.sent.filter((frame) => (frame as { type?: unknown }).type === type);
  }
}

/** A WebSocket constructor that records every socket made. */
export function fakeWebSocket(): { WebSocket: WebSocketConstructor; sockets: FakeSocket[]; last: () => FakeSocket } {
  const sockets: FakeSocket[] = [];
  const WebSocket = class extends FakeSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols === undefined ? [] : typeof protocols === "string" ? [protocols] : protocols);
      sockets.push(this);
    }
  };
  return {
    WebSocket,
    sockets,
    last: () => {
      const socket = sockets.at(-1);
      if (socket === undefined) throw new Error("no socket was opened");
      return socket;
    },
  };
}
