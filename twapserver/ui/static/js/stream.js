// The /ws socket: authenticates with the access token, keeps its subscriptions across
// reconnects, pings so the server's idle timeout never fires, and refreshes the token
// when the server closes with 4401.
import { refresh, tokens } from "./api.js";

const PING_MS = 10000;

export class Stream {
  /** `onMessage(message)` gets every server message; `onStatus(text)` the socket state. */
  constructor(onMessage, onStatus) {
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.subscriptions = new Map();
    this.socket = null;
    this.closed = false;
    this.retryMs = 500;
  }

  open() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    const socket = (this.socket = new WebSocket(url));
    socket.onopen = () => {
      socket.send(JSON.stringify({ op: "auth", token: tokens()?.access_token }));
      for (const request of this.subscriptions.values()) socket.send(JSON.stringify(request));
      this.retryMs = 500;
      this.onStatus("live");
      this.pinger = setInterval(() => socket.send(JSON.stringify({ op: "ping" })), PING_MS);
    };
    socket.onmessage = (event) => this.onMessage(JSON.parse(event.data));
    socket.onclose = async (event) => {
      clearInterval(this.pinger);
      if (this.closed) return;
      this.onStatus(`disconnected (${event.code}), reconnecting…`);
      if (event.code === 4401) await refresh().catch(() => {});
      setTimeout(() => this.open(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10000);
    };
  }

  subscribe(key, request) {
    this.subscriptions.set(key, { op: "subscribe", ...request });
    this.send({ op: "subscribe", ...request });
  }

  unsubscribe(key) {
    const request = this.subscriptions.get(key);
    if (!request) return;
    this.subscriptions.delete(key);
    this.send({ ...request, op: "unsubscribe" });
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  close() {
    this.closed = true;
    this.socket?.close();
  }
}
