// One room's read state for this user: the read mark the server keeps for
// all of the user's devices, and the unread and mention counts after it.
//
// The server gives the counts with every room object, join ack, markRead
// ack and readUpdated; it never sends them again for a new message (the
// client counts those itself). Counts taken at one moment plus the
// messages that arrive after it would count a message twice when it races
// the snapshot, so the counts are recomputed from messages whenever the
// client holds every message after the mark: the room's loaded history
// (which reaches the newest message) or the messages received live since
// the last snapshot (every message accepted after the first of them
// arrives after it too). Only a mark older than both falls back to the
// server's numbers. Message ids sort in the order the server accepted them.

export class ReadState {
  constructor() {
    this.lastReadId = null; // the mark; null while the user never read the room
    this.unread = 0; // messages of others after the mark
    this.mentions = 0; // those of them that mention the user
    this.base = { unread: 0, mentions: 0 }; // the server's counts at the last snapshot
    this.live = new Map(); // id -> {others, mentionsMe}: messages received since that snapshot
    this.liveFrom = null; // the first of them: every message from there on is in `live`
  }

  /**
   * Take the state the server reports ({lastReadId?, unread, mentions}).
   * A mark behind ours is ignored (our newer one is on its way). `how`
   * says what the connection received before it: 'joined' (a join without
   * a cursor: messages may have been missed, so those received before no
   * longer count), 'resumed' (a join from a cursor: the messages the counts
   * include are about to arrive again as frames, so the counts are only
   * taken when they can be recomputed) or 'live' (everything, in order).
   * `held` is the room's loaded history or null, `meId` the user.
   * Returns whether anything changed.
   */
  adopt(state, held, meId, how = 'live') {
    if (!state || typeof state.unread !== 'number') return false;
    const mark = state.lastReadId || null;
    if (this.lastReadId !== null && (mark === null || mark < this.lastReadId)) return false;
    const before = [this.lastReadId, this.unread, this.mentions].join();
    if (how === 'joined') this.forgetLive();
    const previous = this.lastReadId;
    this.lastReadId = mark;
    if (!this.exact(held)) {
      if (how === 'resumed') {
        this.lastReadId = previous;
        return false;
      }
      this.base = { unread: state.unread, mentions: state.mentions || 0 };
      this.forgetLive();
    }
    this.recount(held, meId);
    return before !== [this.lastReadId, this.unread, this.mentions].join();
  }

  forgetLive() {
    this.live = new Map();
    this.liveFrom = null;
  }

  /** Move the mark forward to `id` on this device; false when it is not ahead of the mark. */
  markLocal(id, held, meId) {
    if (this.lastReadId !== null && id <= this.lastReadId) return false;
    this.lastReadId = id;
    this.recount(held, meId);
    return true;
  }

  /**
   * A message arrived live (a new one, or a resumed join's replay): the
   * newest there is, so it counts when it is someone else's.
   */
  noteMessage(msg, meId) {
    const entry = { others: msg.userId !== meId, mentionsMe: Array.isArray(msg.mentions) && msg.mentions.includes(meId) };
    this.live.set(msg.id, entry);
    if (this.liveFrom === null) this.liveFrom = msg.id;
    if (!entry.others || (this.lastReadId !== null && msg.id <= this.lastReadId)) return false;
    this.unread += 1;
    if (entry.mentionsMe) this.mentions += 1;
    return true;
  }

  /** A message was deleted: it no longer counts. Returns whether the counts changed. */
  forget(id, held, meId) {
    const before = this.unread + this.mentions;
    this.live.delete(id);
    this.recount(held, meId);
    return before !== this.unread + this.mentions;
  }

  /** Whether the messages after the mark are all known here. */
  exact(held) {
    const mark = this.lastReadId;
    if (mark === null) return false;
    return Boolean(held && held.length && mark >= held[0].id) || (this.liveFrom !== null && mark >= this.liveFrom);
  }

  recount(held, meId) {
    const mark = this.lastReadId;
    const isNew = (id) => mark === null || id > mark;
    let unread = 0;
    let mentions = 0;
    if (mark !== null && held && held.length && mark >= held[0].id) {
      for (const m of held) {
        if (!isNew(m.id) || m.userId === meId) continue;
        unread += 1;
        if (Array.isArray(m.mentions) && m.mentions.includes(meId)) mentions += 1;
      }
    } else {
      const fromLive = mark !== null && this.liveFrom !== null && mark >= this.liveFrom;
      unread = fromLive ? 0 : this.base.unread;
      mentions = fromLive ? 0 : this.base.mentions;
      for (const [id, m] of this.live) {
        if (!isNew(id) || !m.others) continue;
        unread += 1;
        if (m.mentionsMe) mentions += 1;
      }
    }
    this.unread = unread;
    this.mentions = mentions;
    // Messages at or before the mark never count again (marks only move forward).
    if (mark !== null) for (const id of this.live.keys()) if (id <= mark) this.live.delete(id);
  }
}
