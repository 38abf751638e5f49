// What the client knows about one room, and how its message list is kept:
// the newest page (merged with live messages that raced it), older pages on
// scroll-up, and the live changes to the messages it holds; its read state
// (read-state.js). The session owns one RoomState per listed room and
// announces what changed.

import { ReadState } from './read-state.js';

/** Messages per history request... */
const PAGE_SIZE = 50;
/**
 * ...or more, up to the server's limit, when more are unread after a read
 * mark: the first unread message is where a room opens (views/read-marker.js).
 */
const MAX_PAGE_SIZE = 200;
/** A history load retried because a (re)join happened during it. */
const LOAD_ATTEMPTS = 3;

export class RoomState {
  constructor(room) {
    this.room = room;
    this.users = new Set(); // online usernames, from the join ack + events
    this.joined = false;
    this.joinPromise = null;
    this.joinGen = 0; // bumped on every successful join (see load())
    this.messages = []; // oldest first; only filled once loaded
    this.ids = new Set(); // ids in `messages`
    this.seen = new Set(); // every live id received: drops duplicated frames
    this.lastId = null; // newest message id we have: the resume cursor
    this.loaded = false;
    this.loadPromise = null;
    this.buffer = null; // live messages arriving while a load is in flight
    this.hasMore = false;
    this.hasNewer = false; // opened at a message (room-anchor.js): the newest ones are not loaded yet
    this.newerPromise = null;
    this.newerBuffer = null; // live messages arriving while a newer page is in flight
    this.olderPromise = null;
    this.generation = 0; // bumped on reset so stale page results are dropped
    this.read = new ReadState(); // the read mark and the unread and mention counts
    this.markPending = null; // a mark not yet sent to the server (see session-read.js)
    this.markSentAt = 0;
    this.markTimer = null;
    this.typing = new Map(); // username -> expiry time (ms)
    this.lastTypingSent = 0;
  }

  /** Messages of others after the read mark. */
  get unread() {
    return this.read.unread;
  }

  /** Those of them that mention the user. */
  get mentions() {
    return this.read.mentions;
  }

  /** The loaded history, which reaches the newest message (what read counts are recomputed from), or null. */
  get held() {
    return this.loaded && !this.hasNewer ? this.messages : null;
  }

  get online() {
    return this.joined ? this.users.size : (this.room.online ?? 0);
  }

  /** Forget the loaded history; loads still in flight see the new generation and give up. */
  reset() {
    this.messages = [];
    this.ids = new Set();
    this.loaded = false;
    this.hasMore = false;
    this.hasNewer = false;
    this.loadPromise = null;
    this.olderPromise = null;
    this.newerPromise = null;
    this.buffer = null;
    this.newerBuffer = null;
    this.generation += 1;
  }

  /** The resume cursor is no longer a message of the room: start over from the newest history. */
  forgetCursor() {
    this.lastId = null;
    this.seen.clear();
    this.reset();
  }

  /**
   * Load the newest page, merging live messages that raced it. The page is
   * dropped when the history was reset meanwhile or `stillListed()` says
   * the room is gone; otherwise `onLoaded()` runs once it is in place.
   */
  load(api, { stillListed, onLoaded }) {
    if (this.loaded) return Promise.resolve();
    if (this.loadPromise) return this.loadPromise;
    const gen = this.generation;
    const buffer = [];
    this.buffer = buffer;
    const p = (async () => {
      try {
        let page;
        for (let i = 0; i < LOAD_ATTEMPTS; i++) {
          // Fetching before the join is subscribed could miss messages
          // stored in between, so wait for a join already under way.
          if (this.joinPromise) await this.joinPromise.catch(() => {});
          const joinGen = this.joinGen;
          const unread = this.read.lastReadId !== null ? this.unread : 0;
          const limit = Math.min(MAX_PAGE_SIZE, Math.max(PAGE_SIZE, unread + 10));
          page = await api.messages(this.room.id, { limit });
          if (this.joinGen === joinGen) break;
        }
        if (gen !== this.generation || !stillListed()) return;
        this.messages = page.messages.slice();
        this.ids = new Set(this.messages.map((m) => m.id));
        // Live messages that arrived during the fetch: keep the ones the
        // page does not have; they are newer, so they go at the end.
        for (const m of buffer) {
          if (!this.ids.has(m.id)) {
            this.messages.push(m);
            this.ids.add(m.id);
          }
        }
        this.hasMore = Boolean(page.hasMore);
        if (this.messages.length) this.lastId = this.messages[this.messages.length - 1].id;
        this.loaded = true;
        onLoaded();
      } finally {
        if (this.buffer === buffer) this.buffer = null;
        if (this.loadPromise === p) this.loadPromise = null;
      }
    })();
    this.loadPromise = p;
    return p;
  }

  /** Load the page before the oldest message we have (scroll-up); `onPrepended(fresh)` gets the new ones. */
  loadOlder(api, onPrepended) {
    if (!this.loaded || !this.hasMore) return Promise.resolve();
    if (this.olderPromise) return this.olderPromise;
    const oldest = this.messages[0];
    if (!oldest) {
      this.hasMore = false;
      return Promise.resolve();
    }
    const gen = this.generation;
    const p = (async () => {
      try {
        const page = await api.messages(this.room.id, { before: oldest.id, limit: PAGE_SIZE });
        if (gen !== this.generation) return;
        const fresh = page.messages.filter((m) => !this.ids.has(m.id));
        for (const m of fresh) this.ids.add(m.id);
        this.messages.unshift(...fresh);
        this.hasMore = Boolean(page.hasMore);
        onPrepended(fresh);
      } finally {
        if (this.olderPromise === p) this.olderPromise = null;
      }
    })();
    this.olderPromise = p;
    return p;
  }

  // ---- live changes -------------------------------------------------------

  /** Note a live message as received; false when it is a duplicated frame. */
  noteLive(msg) {
    if (this.seen.has(msg.id) || this.ids.has(msg.id)) return false;
    this.seen.add(msg.id);
    this.lastId = msg.id;
    return true;
  }

  /**
   * Take a live message into the list: held back while a load is in flight
   * (the load merges it), appended once loaded. True when it was appended.
   */
  takeLive(msg) {
    if (this.buffer) {
      this.buffer.push(msg);
      return false;
    }
    if (!this.loaded) return false;
    if (this.hasNewer) {
      // Not next to what is held: the next newer page brings it, in order.
      if (this.newerBuffer) this.newerBuffer.push(msg);
      return false;
    }
    this.messages.push(msg);
    this.ids.add(msg.id);
    return true;
  }

  /** Drop a deleted message; false when we do not hold it. */
  remove(id) {
    if (!this.ids.has(id)) return false;
    this.ids.delete(id);
    this.messages = this.messages.filter((m) => m.id !== id);
    return true;
  }

  /** Merge new fields into a message we hold; returns it, or null when we do not hold it. */
  patch(id, fields) {
    const i = this.messages.findIndex((m) => m.id === id);
    if (i < 0) return null;
    this.messages[i] = { ...this.messages[i], ...fields };
    return this.messages[i];
  }
}
