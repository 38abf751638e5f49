// Opening a room at one message (a link to it, a clicked notification):
// the page around it instead of the newest page, then newer pages as the
// reader scrolls down until the newest message, where the room is live
// again. While the newest messages are not loaded (RoomState.hasNewer),
// live messages are not appended (they would land out of order): the
// newer pages bring them. These are methods of ChatSession, mixed into its
// prototype by session.js; they use the session's rooms, api and emit().

/** Messages in the page around the message, and in each newer page. */
const PAGE_SIZE = 50;

/**
 * Put the page around `messageId` in place of what `rs` holds. Rejects with
 * the API's error (404 when the room no longer holds the message).
 */
async function loadAround(rs, api, messageId, stillListed) {
  rs.reset();
  const gen = rs.generation;
  const buffer = [];
  rs.buffer = buffer;
  try {
    // As for the newest page: a join under way first, or messages stored in between could be missed.
    if (rs.joinPromise) await rs.joinPromise.catch(() => {});
    const page = await api.messages(rs.room.id, { around: messageId, limit: PAGE_SIZE });
    if (gen !== rs.generation || !stillListed()) return false;
    rs.messages = page.messages.slice();
    rs.ids = new Set(rs.messages.map((m) => m.id));
    rs.hasMore = Boolean(page.hasMoreBefore);
    rs.hasNewer = Boolean(page.hasMoreAfter);
    // Reaching the newest: live messages that raced the page follow it.
    if (!rs.hasNewer) appendFresh(rs, buffer);
    // A resume cursor for the next join (what it replays waits for the newer pages).
    else if (!rs.lastId && rs.messages.length) rs.lastId = rs.messages[rs.messages.length - 1].id;
    rs.loaded = true;
    return true;
  } finally {
    if (rs.buffer === buffer) rs.buffer = null;
  }
}

/** Append the messages `rs` does not hold yet; returns them. */
function appendFresh(rs, messages) {
  const fresh = messages.filter((m) => !rs.ids.has(m.id));
  for (const m of fresh) {
    rs.messages.push(m);
    rs.ids.add(m.id);
  }
  if (rs.messages.length) rs.lastId = rs.messages[rs.messages.length - 1].id;
  return fresh;
}

export const anchorMethods = {
  /**
   * Show room `rs` at message `messageId`, which gets a 'reset' with
   * `anchorId`. A message gone meanwhile opens the newest page instead,
   * with an 'anchor-missing' event.
   */
  async loadAround(rs, messageId) {
    const roomId = rs.room.id;
    try {
      if (await loadAround(rs, this.api, messageId, () => this.rooms.has(roomId))) {
        this.emit('reset', { roomId, anchorId: messageId });
      }
    } catch (err) {
      // Whatever went wrong, the room still opens: at its newest messages.
      rs.reset();
      const latest = this.load(rs);
      // Gone (404), or never a message id (400): said so; anything else is a notice.
      if (err.status === 404 || err.status === 400) this.emit('anchor-missing', { roomId });
      else this.emit('notice', { code: err.code, message: err.message });
      await latest;
    }
  },

  /** Load the page after the newest message held (scroll-down while opened at a message). */
  loadNewer(rs) {
    if (!rs.loaded || !rs.hasNewer) return Promise.resolve();
    if (rs.newerPromise) return rs.newerPromise;
    const newest = rs.messages[rs.messages.length - 1];
    const gen = rs.generation;
    const buffer = [];
    rs.newerBuffer = buffer;
    const p = (async () => {
      try {
        const page = await this.api.messages(rs.room.id, { after: newest.id, limit: PAGE_SIZE });
        if (gen !== rs.generation) return;
        const fresh = appendFresh(rs, page.messages);
        rs.hasNewer = Boolean(page.hasMore);
        // The newest is here: what arrived live during the request follows, and the room is live again.
        if (!rs.hasNewer) fresh.push(...appendFresh(rs, buffer));
        this.emit('newer', { roomId: rs.room.id, messages: fresh });
      } finally {
        if (rs.newerBuffer === buffer) rs.newerBuffer = null;
        if (rs.newerPromise === p) rs.newerPromise = null;
      }
    })();
    rs.newerPromise = p;
    return p;
  },

  /** Leave the message the room was opened at for the newest page ("Jump to latest"). */
  loadLatest(rs) {
    rs.reset();
    return this.load(rs);
  },
};
