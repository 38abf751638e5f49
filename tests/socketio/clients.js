// The two kinds of client the tests drive: the official `socket.io-client`
// on `/socket.io/`, and a plain WebSocket on `/ws` speaking the contract's
// JSON frames (the `ws` package: Node 20 has no WebSocket client, and it
// can send any Origin). Both record what the server sends in an Inbox.
// Every wait here is bounded and fails with what was received instead.

import http from 'node:http';
import { io } from 'socket.io-client';
import WebSocket from 'ws';

/** Default bound of every wait for something from the server. */
export const WAIT_MS = 10000;
/** How long "nothing more arrives" is watched for. */
export const QUIET_MS = 400;

/** Every bounded wait still running: closeAll() cancels them. */
const running = new Set();

/**
 * A promise settled by `setup(resolve, reject)` (which returns its cleanup)
 * or rejected with `onTimeout()` after `timeout` ms. The cleanup runs
 * either way; closeAll() cancels a wait a failed test left behind, so no
 * timer of it keeps the test process alive.
 */
function bounded(timeout, onTimeout, setup) {
  return new Promise((resolve, reject) => {
    let settled = false;
    let cleanup = null;
    const stop = () => {
      settled = true;
      clearTimeout(timer);
      running.delete(stop);
      if (cleanup) cleanup();
    };
    const timer = setTimeout(() => {
      stop();
      reject(onTimeout());
    }, timeout);
    running.add(stop);
    const ok = (v) => { if (!settled) { stop(); resolve(v); } };
    const fail = (e) => { if (!settled) { stop(); reject(e); } };
    cleanup = setup(ok, fail) || null;
    if (settled && cleanup) cleanup();
  });
}

/** Events received and not yet taken by a test, in arrival order. */
class Inbox {
  constructor(label) {
    this.label = label;
    this.events = [];
    this.waiters = new Set();
  }

  push(event, data) {
    this.events.push({ event, data });
    for (const w of [...this.waiters]) w();
  }

  /** Take the first event named `event` (for which `match(data)` holds), waiting for it. */
  next(event, match = () => true, timeout = WAIT_MS) {
    return bounded(timeout, () => new Error(`${this.label}: no "${event}" within ${timeout} ms; unread: ${this.dump()}`),
      (ok) => {
        const check = () => {
          const i = this.events.findIndex((e) => e.event === event && match(e.data));
          if (i >= 0) ok(this.events.splice(i, 1)[0].data);
        };
        this.waiters.add(check);
        check();
        return () => this.waiters.delete(check);
      });
  }

  /** Take `n` events named `event`, in order. */
  async take(event, n, timeout = WAIT_MS) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await this.next(event, () => true, timeout));
    return out;
  }

  /** Wait `ms`, then return (and take) every unread event named `event`. */
  async quiet(event, ms = QUIET_MS) {
    await new Promise((r) => setTimeout(r, ms));
    const got = this.events.filter((e) => e.event === event).map((e) => e.data);
    this.events = this.events.filter((e) => e.event !== event);
    return got;
  }

  dump() {
    return JSON.stringify(this.events.slice(-20));
  }
}

// ---- Socket.IO ----------------------------------------------------------------

const opened = new Set();

/**
 * A Socket.IO client to the server (`nsp` is a namespace such as `/nope`).
 * Unlike a bare `io(url)`: its own connection, no reconnection (a test
 * that wants it says so), and every event recorded in `socket.inbox`.
 */
export function sio(server, opts = {}, nsp = '') {
  const socket = io(server.url + nsp, { forceNew: true, reconnection: false, timeout: WAIT_MS, ...opts });
  return recorded(socket, opts.label || 'socket.io client');
}

/** Record every event of `socket` (one made by the test itself, too). */
export function recorded(socket, label) {
  socket.inbox = new Inbox(label);
  socket.onAny((event, data) => socket.inbox.push(event, data));
  opened.add(socket);
  return socket;
}

/** Listen to `events` ({name: handler}) on `emitter`; returns the removal. */
function listen(emitter, events) {
  for (const [name, fn] of Object.entries(events)) emitter.on(name, fn);
  return () => {
    for (const [name, fn] of Object.entries(events)) emitter.off(name, fn);
  };
}

/**
 * A `connect_error` in words: its message, its data, and for a transport
 * error what the transport saw (e.g. the HTTP status of a refused request).
 */
function describe(err) {
  const d = err.description;
  const seen = d === undefined ? '' : ` (${typeof d === 'object' ? d.message ?? d.type ?? JSON.stringify(d) : d})`;
  return `connect_error: ${err.message}${seen}, data ${JSON.stringify(err.data ?? null)}`;
}

/** Resolves on `connect`; rejects on `connect_error` or after `timeout`. */
export function connected(socket, timeout = WAIT_MS) {
  if (socket.connected) return Promise.resolve(socket);
  return bounded(timeout, () => new Error(`no connect within ${timeout} ms`), (ok, fail) => listen(socket, {
    connect: () => ok(socket),
    connect_error: (err) => fail(new Error(describe(err))),
  }));
}

/** A connected Socket.IO client. */
export async function connect(server, opts = {}, nsp = '') {
  return connected(sio(server, opts, nsp));
}

/** Resolves with the `connect_error`; rejects on `connect` or after `timeout`. */
export function connectError(socket, timeout = WAIT_MS) {
  return bounded(timeout, () => new Error(`no connect_error within ${timeout} ms`), (ok, fail) => listen(socket, {
    connect: () => fail(new Error('connected, but a connect_error was expected')),
    connect_error: ok,
  }));
}

/** Resolves with the reason of the next `disconnect` (bounded). */
export function disconnected(socket, timeout = WAIT_MS) {
  if (!socket.connected) return Promise.resolve('not connected');
  return bounded(timeout, () => new Error(`still connected after ${timeout} ms`),
    (ok) => listen(socket, { disconnect: ok }));
}

/** Emit with an acknowledgement callback; resolves with what the server acknowledged. */
export async function ack(socket, event, data, timeout = WAIT_MS) {
  try {
    return await socket.timeout(timeout).emitWithAck(event, data);
  } catch (err) {
    throw new Error(`${event} ${JSON.stringify(data)}: no acknowledgement within ${timeout} ms (${err.message})`);
  }
}

/** Resolves once the client's transport is `name` (e.g. after the upgrade to websocket). */
export async function transportBecomes(socket, name, timeout = WAIT_MS) {
  const end = Date.now() + timeout;
  while (socket.io.engine?.transport?.name !== name) {
    if (Date.now() > end) {
      throw new Error(`transport is still ${socket.io.engine?.transport?.name} after ${timeout} ms, not ${name}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---- /ws --------------------------------------------------------------------

/**
 * Open a WebSocket to `path` sending `headers`: `{status: 101, ws}` when the
 * server upgrades, otherwise `{status}` of its refusal. `onMessage` gets
 * every message from the start (the server may send one with the upgrade).
 */
function upgrade(server, path, headers, label, onMessage = () => {}) {
  const ws = new WebSocket(server.wsUrl + path, { headers, handshakeTimeout: WAIT_MS });
  ws.on('message', onMessage);
  // A connection that fails or closes later is a test's business, not a crash.
  ws.on('error', () => {});
  return bounded(WAIT_MS + 1000, () => new Error(`${label}: no answer to the upgrade of ${path}`), (ok, fail) => {
    let upgraded = false;
    ws.once('open', () => {
      upgraded = true;
      ok({ status: 101, ws });
    });
    ws.once('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      ok({ status: res.statusCode });
    });
    ws.once('error', fail);
    return () => {
      if (!upgraded) ws.terminate();
    };
  });
}

/** The status the server answers a WebSocket upgrade of `path` with (101: it upgraded). */
export async function upgradeStatus(server, path, headers = {}) {
  const { status, ws } = await upgrade(server, path, headers, 'upgrade');
  if (ws) ws.terminate();
  return status;
}

/**
 * A `/ws` client with `token` in the query string (as browsers do).
 * `call` sends a frame with a `ref` and resolves with its answer (the ack
 * or error frame); frames without a `ref` go to `inbox`.
 */
export async function wsClient(server, token, { headers = {}, label = '/ws client' } = {}) {
  const inbox = new Inbox(label);
  const pending = new Map();
  let refs = 0;
  const { status, ws } = await upgrade(server, `/ws?token=${encodeURIComponent(token)}`, headers, label, (raw) => {
    const frame = JSON.parse(raw.toString());
    const answer = frame.ref !== undefined && pending.get(frame.ref);
    if (answer) answer(frame);
    else inbox.push(frame.event, frame.data);
  });
  if (!ws) throw new Error(`${label}: the /ws upgrade was answered ${status}`);
  const client = {
    ws,
    inbox,
    call(event, data, timeout = WAIT_MS) {
      refs += 1;
      const ref = `r${refs}`;
      return bounded(timeout, () => new Error(`${label}: no answer to ${event} within ${timeout} ms`), (ok) => {
        pending.set(ref, ok);
        ws.send(JSON.stringify({ event, data, ref }));
        return () => pending.delete(ref);
      });
    },
    /** `call`, expecting an ack: resolves with its data. */
    async request(event, data) {
      const frame = await client.call(event, data);
      if (frame.event !== 'ack') throw new Error(`${label}: ${event} answered ${JSON.stringify(frame)}`);
      return frame.data;
    },
    close() {
      ws.terminate();
    },
  };
  opened.add(client);
  return client;
}

/** Close every client the tests opened and cancel every wait (run after each test). */
export function closeAll() {
  for (const stop of [...running]) stop();
  for (const c of opened) {
    if (typeof c.disconnect === 'function') c.disconnect();
    else c.close();
  }
  opened.clear();
}

/**
 * A bare Engine.IO WebSocket session on `/socket.io/` (no Socket.IO client):
 * every text packet it receives goes to `inbox` as a `packet` event, so a
 * test sees exactly what the server sent.
 */
export async function rawEngine(server) {
  const path = '/socket.io/?EIO=4&transport=websocket';
  const inbox = new Inbox('raw engine.io');
  const { status, ws } = await upgrade(server, path, {}, 'raw engine.io', (raw) => inbox.push('packet', raw.toString()));
  if (!ws) throw new Error(`raw engine.io: the upgrade was answered ${status}`);
  const client = { ws, inbox, send: (packet) => ws.send(packet), close: () => ws.terminate() };
  opened.add(client);
  return client;
}

/** A GET of `path` with exactly `headers` (any Origin too): `{status, body}`, bounded. */
export function rawGet(server, path, headers = {}) {
  return bounded(WAIT_MS, () => new Error(`GET ${path}: no answer within ${WAIT_MS} ms`), (ok, fail) => {
    const req = http.get(server.url + path, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => { body += c; });
      res.on('end', () => ok({ status: res.statusCode, body }));
    });
    req.on('error', fail);
    return () => req.destroy();
  });
}
