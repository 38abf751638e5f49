// One WebSocket to the server that survives restarts and network drops.
// It numbers every frame with a unique `ref`, turns ack/error replies into
// settled promises, and reconnects with capped exponential backoff.

/** Backoff starts here and doubles per failed attempt... */
const BACKOFF_MIN_MS = 500;
/** ...up to this cap, so a long outage is retried every ~10 s. */
const BACKOFF_MAX_MS = 10000;
/** A connection that lived this long counts as healthy: backoff restarts. */
const HEALTHY_AFTER_MS = 5000;
/** A request without an answer by then is failed (the server may be gone). */
const REQUEST_TIMEOUT_MS = 10000;

export class SocketError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'SocketError';
    this.code = code;
  }
}

/**
 * Events dispatched (CustomEvent, detail in parentheses):
 * - `state` ({state, delayMs}) with state one of connecting, connected, reconnecting, closed
 * - `open` () each time a connection is established (re-join rooms here)
 * - `frame` ({event, data}) every server frame that is not a reply to a request
 * - `failed` () a connection attempt failed before opening (token may be bad)
 * - `closed` ({code, opened}) a connection ended (not by stop()); a reconnect follows
 */
export class ChatSocket extends EventTarget {
  constructor(urlFor) {
    super();
    this.urlFor = urlFor; // called per attempt so a fresh token is used
    this.ws = null;
    this.pending = new Map(); // ref -> {resolve, reject, timer}
    this.attempt = 0;
    this.retryTimer = null;
    this.stopped = true;
    this.openedAt = 0;
    // A per-page prefix keeps refs unique even across reconnects and tabs.
    this.refPrefix = Math.random().toString(36).slice(2, 8);
    this.refCounter = 0;
    this.state = 'closed';
  }

  get connected() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  /** Close for good (logout); no reconnect. */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      detach(ws);
      ws.close(1000, 'bye');
    }
    this.failPending(new SocketError('closed', 'Connection closed.'));
    this.setState('closed');
  }

  /** Skip the rest of the backoff wait (e.g. the browser came back online). */
  retryNow() {
    if (this.stopped || this.ws || !this.retryTimer) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  /** Send a frame and resolve with the ack's data, or reject with SocketError. */
  request(event, data, timeoutMs = REQUEST_TIMEOUT_MS) {
    if (!this.connected) return Promise.reject(new SocketError('offline', 'Not connected to the server.'));
    const ref = `${this.refPrefix}-${++this.refCounter}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new SocketError('timeout', 'The server did not answer in time.'));
      }, timeoutMs);
      this.pending.set(ref, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ event, data, ref }));
    });
  }

  connect() {
    this.retryTimer = null;
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let ws;
    try {
      ws = new WebSocket(this.urlFor());
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    let opened = false;

    ws.onopen = () => {
      opened = true;
      this.openedAt = Date.now();
      this.setState('connected');
      this.dispatchEvent(new CustomEvent('open'));
    };
    ws.onmessage = (ev) => this.handleFrame(ev.data);
    ws.onclose = (ev) => {
      detach(ws);
      if (this.ws !== ws) return;
      this.ws = null;
      this.failPending(new SocketError('disconnected', 'Connection lost.'));
      if (this.stopped) return;
      this.dispatchEvent(new CustomEvent('closed', { detail: { code: ev.code, opened } }));
      // Only a connection that stayed up a while resets the backoff, so a
      // server that accepts then drops us at once is not hammered.
      if (opened && Date.now() - this.openedAt >= HEALTHY_AFTER_MS) this.attempt = 0;
      if (!opened) this.dispatchEvent(new CustomEvent('failed'));
      this.scheduleRetry();
    };
    // An error is always followed by close; nothing to do here.
    ws.onerror = () => {};
  }

  scheduleRetry() {
    if (this.stopped) return;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    // Jitter in [ceiling/2, ceiling] keeps many clients from retrying in step.
    const delayMs = Math.round(ceiling / 2 + Math.random() * ceiling / 2);
    this.attempt += 1;
    this.setState('reconnecting', delayMs);
    this.retryTimer = setTimeout(() => this.connect(), delayMs);
  }

  handleFrame(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return; // not ours to fix; ignore
    }
    if (!frame || typeof frame !== 'object') return;
    const { event, data, ref } = frame;
    if ((event === 'ack' || event === 'error') && ref !== undefined && this.pending.has(ref)) {
      const p = this.pending.get(ref);
      this.pending.delete(ref);
      clearTimeout(p.timer);
      if (event === 'ack') p.resolve(data || {});
      else p.reject(new SocketError((data && data.code) || 'error', (data && data.message) || 'Request failed.'));
      return;
    }
    this.dispatchEvent(new CustomEvent('frame', { detail: { event, data: data || {} } }));
  }

  failPending(err) {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  setState(state, delayMs = 0) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, delayMs } }));
  }
}

function detach(ws) {
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
}
