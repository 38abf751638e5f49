// Messages written while the socket is down: queued in order, kept in
// sessionStorage (a reload of the tab keeps them, another tab or a new
// login does not), and sent once the socket is back, oldest first.
//
// Exactly once: each queued message carries a `clientId`, sent along with
// `sendMessage` (a server that knows it stores a repeated one only once; one
// that does not ignores it). A message is dropped from the queue when the
// server acknowledges it, so an acknowledged message is never sent again.
// The one doubtful case is a connection lost between sending and the ack:
// the message may or may not be stored. Such an entry stays "sending";
// before sending it again the room's history after the cursor noted at
// send time is read over REST, and a message of ours with the same text
// that no ack accounted for counts as the stored one.
//
// Files: uploading needs the connection, so a file is never queued, only a
// message whose files were uploaded already (their ids are good for a day
// on the server); the entry keeps their names to show what waits.

import { SocketError } from './socket.js';

const KEY = 'chatroom.outbox';
/** Socket errors after which the message may have been stored or not. */
const IN_DOUBT = new Set(['disconnected', 'timeout']);
/** Socket errors after which the message was certainly not stored: try again later. */
const NOT_YET = new Set(['offline', 'not_joined']);
/** Waiting out the server's write limit before the next try (ms). */
const RATE_LIMIT_WAIT_MS = 1000;
/** A history page read to settle a doubtful send (the protocol's maximum). */
const CHECK_LIMIT = 200;

/** The stored queue, whoever it belongs to (for the page shown before a session exists). */
export function storedOutbox() {
  try {
    const raw = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    return raw && Array.isArray(raw.entries) ? raw : { userId: null, entries: [] };
  } catch {
    return { userId: null, entries: [] };
  }
}

/** Forget the queue (logging out: nothing of one user is sent as another). */
export function clearOutbox() {
  try { sessionStorage.removeItem(KEY); } catch { /* storage unavailable */ }
}

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

/**
 * One session's queue. Entry: {clientId, roomId, roomName, text, files
 * (records {id, name, size, type} of its uploaded files; absent when none),
 * at, state: 'queued' | 'sending' | 'failed', after (the room's newest id
 * when first sent), error}. Changes are announced with the session's `outbox`
 * event ({roomId}).
 */
export class Outbox {
  constructor(session) {
    this.session = session;
    const stored = storedOutbox();
    // Another user's queue (a different login in this tab) is not ours to send.
    this.entries = stored.userId === session.me.id ? stored.entries : [];
    this.flushing = false;
    /** Ids of our messages acknowledged by the server: never taken for a doubtful one. */
    this.acked = new Set();
    this.save();
  }

  save() {
    try {
      sessionStorage.setItem(KEY, JSON.stringify({ userId: this.session.me.id, entries: this.entries }));
    } catch {
      // No storage: the queue lives as long as the page.
    }
  }

  changed(roomId) {
    this.save();
    this.session.emit('outbox', { roomId });
  }

  forRoom(roomId) {
    return this.entries.filter((e) => e.roomId === roomId);
  }

  /** Whether a message for `roomId` must wait behind queued ones (order). */
  waiting(roomId) {
    return this.entries.some((e) => e.roomId === roomId && e.state !== 'failed');
  }

  /** Queue `text`; `inDoubt` for one whose send was cut off before the ack (`after` noted before it). */
  add(roomId, text, { clientId = newClientId(), inDoubt = false, after = null, files = [] } = {}) {
    const rs = this.session.rooms.get(roomId);
    const entry = {
      clientId, roomId, roomName: rs ? rs.room.name : '', text, at: new Date().toISOString(),
      state: inDoubt ? 'sending' : 'queued', after, error: '',
    };
    if (files.length) entry.files = files.map(({ id, name, size, type }) => ({ id, name, size, type }));
    this.entries.push(entry);
    this.changed(roomId);
    this.flush();
  }

  /** Send a message now, or queue it when the socket is down or others wait before it. */
  async send(roomId, text, files = []) {
    if (!this.session.socket.connected || this.waiting(roomId)) {
      this.add(roomId, text, { files });
      return { queued: true };
    }
    const clientId = newClientId();
    const after = this.cursor(roomId);
    try {
      const ack = await this.request(roomId, text, clientId, files);
      return ack;
    } catch (err) {
      if (!(err instanceof SocketError) || !(IN_DOUBT.has(err.code) || err.code === 'offline')) throw err;
      this.add(roomId, text, { clientId, inDoubt: IN_DOUBT.has(err.code), after, files });
      return { queued: true };
    }
  }

  async request(roomId, message, clientId, files = []) {
    const data = { roomId, message, clientId };
    if (files.length) data.attachments = files.map((f) => f.id);
    const ack = await this.session.socket.request('sendMessage', data);
    if (ack && ack.id) this.acked.add(ack.id);
    return ack;
  }

  cursor(roomId) {
    const rs = this.session.rooms.get(roomId);
    return rs ? rs.lastId : null;
  }

  retry(clientId) {
    const e = this.entries.find((x) => x.clientId === clientId);
    if (!e || e.state !== 'failed') return;
    e.state = 'queued';
    e.error = '';
    this.changed(e.roomId);
    this.flush();
  }

  discard(clientId) {
    const e = this.entries.find((x) => x.clientId === clientId);
    if (!e) return;
    this.entries = this.entries.filter((x) => x !== e);
    this.changed(e.roomId);
  }

  /**
   * Send what waits, oldest first, one at a time; stops at the first
   * message that cannot go yet (socket down, room not joined). Called when
   * the socket opens, the room list arrives, or something is queued.
   */
  async flush() {
    const s = this.session;
    if (this.flushing || !s.roomsKnown) return;
    this.flushing = true;
    try {
      while (s.socket.connected) {
        const e = this.entries.find((x) => x.state !== 'failed');
        if (!e || !(await this.sendOne(e))) break;
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Try one entry; false when the queue must wait for the next connection or join. */
  async sendOne(e) {
    const s = this.session;
    const rs = s.rooms.get(e.roomId);
    if (!rs) return this.fail(e, 'You can no longer write in this room.');
    if (!rs.joined && rs.joinPromise) await rs.joinPromise.catch(() => {});
    if (!rs.joined || !s.socket.connected) return false;
    if (e.state === 'sending') {
      const stored = await this.wasStored(e);
      if (stored === null) return false;
      if (stored) return this.done(e);
    } else {
      // The cursor a later check of this send starts from; a room not
      // loaded yet has none, so ask for its newest message.
      const after = rs.lastId || await this.newestId(e.roomId);
      if (after === undefined || !s.socket.connected) return false;
      e.state = 'sending';
      e.after = after;
      this.changed(e.roomId);
    }
    try {
      await this.request(e.roomId, e.text, e.clientId, e.files || []);
      return this.done(e);
    } catch (err) {
      const code = err && err.code;
      if (IN_DOUBT.has(code)) return false;
      if (NOT_YET.has(code)) {
        e.state = 'queued';
        this.changed(e.roomId);
        return false;
      }
      if (code === 'rate_limited') {
        e.state = 'queued';
        await new Promise((r) => setTimeout(r, RATE_LIMIT_WAIT_MS));
        return true;
      }
      return this.fail(e, (err && err.message) || 'The server refused the message.');
    }
  }

  done(e) {
    this.entries = this.entries.filter((x) => x !== e);
    this.changed(e.roomId);
    return true;
  }

  fail(e, error) {
    e.state = 'failed';
    e.error = error;
    this.changed(e.roomId);
    return true;
  }

  /** The id of the room's newest message, null for an empty room, undefined when it cannot be read. */
  async newestId(roomId) {
    try {
      const page = await this.session.api.messages(roomId, { limit: 1 });
      const last = page && page.messages ? page.messages[page.messages.length - 1] : null;
      return last ? last.id : null;
    } catch {
      return undefined;
    }
  }

  /**
   * Whether a send cut off before its ack was stored: true, false, or null
   * when the history cannot be read now. Our message with the same text
   * after the cursor, not acknowledged as another one, is taken as it.
   */
  async wasStored(e) {
    const s = this.session;
    let page;
    try {
      page = await s.api.messages(e.roomId, e.after ? { after: e.after, limit: CHECK_LIMIT } : { limit: CHECK_LIMIT });
    } catch (err) {
      if (err.status === 400 && e.after) {
        // The cursor's message was deleted meanwhile: look at the newest page.
        e.after = null;
        return this.wasStored(e);
      }
      return null;
    }
    const mine = (page && page.messages ? page.messages : [])
      .find((m) => m.userId === s.me.id && m.message === e.text && sameFiles(m, e) && !this.acked.has(m.id));
    if (!mine) return false;
    this.acked.add(mine.id);
    return true;
  }
}

/** Whether stored message `m` carries the files of queued entry `e`. */
function sameFiles(m, e) {
  const ids = (list) => (list || []).map((f) => f.id).join(',');
  return ids(m.attachments) === ids(e.files);
}
