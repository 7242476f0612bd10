// The live incident feed: server-sent events read with fetch() + ReadableStream so that the bearer
// token goes in the Authorization header (never in a URL). Reconnects with backoff; reports its state.

export class LiveFeed {
  /** onEvent({event, data, id}); onState(state, info) with state "connecting" | "live" | "retry" | "offline" */
  constructor({ url, token, onEvent, onState, onOpen }) {
    Object.assign(this, { url, token, onEvent, onState, onOpen });
    this.stopped = false;
    this.backoff = 1000;
    this.ctrl = null;
    this.lastId = null;
    this.retryTimer = null;
  }

  start() { this.stopped = false; this._connect(); return this; }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.ctrl) this.ctrl.abort();
    this.onState("offline");
  }

  async _connect() {
    if (this.stopped) return;
    this.onState("connecting");
    this.ctrl = new AbortController();
    const headers = { Accept: "text/event-stream", Authorization: `Bearer ${this.token}` };
    if (this.lastId) headers["Last-Event-ID"] = this.lastId;
    let res;
    try {
      res = await fetch(this.url, { headers, signal: this.ctrl.signal, cache: "no-store" });
    } catch (e) {
      return this._retry();
    }
    if (res.status === 401 || res.status === 403) {
      this.onState("offline", { status: res.status });
      this.stopped = true;
      return;
    }
    if (!res.ok || !res.body) return this._retry();
    this.backoff = 1000;
    this.onState("live");
    if (this.onOpen) this.onOpen();
    const reader = res.body.getReader();
    const decoder = new TextDecoder("utf-8");
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        buf = buf.replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          this._dispatch(block);
        }
      }
    } catch (e) {
      if (this.stopped) return;
    }
    this._retry();
  }

  _dispatch(block) {
    let event = "message", data = [], id = null;
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      let v = i < 0 ? "" : line.slice(i + 1);
      if (v.startsWith(" ")) v = v.slice(1);
      if (field === "event") event = v;
      else if (field === "data") data.push(v);
      else if (field === "id") id = v;
      else if (field === "retry" && /^\d+$/.test(v)) this.backoff = Math.max(500, Number(v));
    }
    if (id) this.lastId = id;
    if (!data.length) return;
    let parsed;
    try { parsed = JSON.parse(data.join("\n")); } catch { return; }
    try { this.onEvent({ event, data: parsed, id }); } catch (e) { console.error("feed handler", e); }
  }

  _retry() {
    if (this.stopped) return;
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, 15000);
    this.onState("retry", { seconds: Math.round(wait / 1000) });
    this.retryTimer = setTimeout(() => this._connect(), wait);
  }
}
