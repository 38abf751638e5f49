// The session's part in read state (one mark per user and room, shared by
// all of the user's devices): moving the mark when the user has seen a
// message, telling the server (markRead, at most once per interval per
// room, and again after a reconnect if it did not get through), and taking
// in the state the server reports (markRead's ack, readUpdated from the
// user's other devices, room objects, join acks). These are methods of
// ChatSession, mixed into its prototype by session.js; they use the
// session's rooms, socket, me and emit(). The counting is in read-state.js.

import { SocketError } from './socket.js';

/** A room's mark reaches the server at most this often; the newest one wins. */
const MARK_READ_INTERVAL_MS = 1000;

export const readMethods = {
  /**
   * The user has seen message `messageId` of a room (the newest one on
   * screen): the mark moves here at once (badges follow) and the server
   * is told soon after. A message at or before the mark changes nothing.
   */
  markRead(roomId, messageId) {
    const rs = this.rooms.get(roomId);
    if (!rs || !rs.read.markLocal(messageId, rs.held, this.me.id)) return;
    rs.markPending = messageId;
    this.scheduleMark(rs);
    this.emit('rooms');
  },

  scheduleMark(rs) {
    if (rs.markTimer) return;
    const wait = Math.max(0, rs.markSentAt + MARK_READ_INTERVAL_MS - Date.now());
    rs.markTimer = setTimeout(() => {
      rs.markTimer = null;
      this.sendMark(rs);
    }, wait);
  },

  async sendMark(rs) {
    const messageId = rs.markPending;
    // Offline: flushMarks() sends it once the socket is back.
    if (!messageId || !this.socket.connected || this.rooms.get(rs.room.id) !== rs) return;
    rs.markPending = null;
    rs.markSentAt = Date.now();
    try {
      const state = await this.socket.request('markRead', { roomId: rs.room.id, messageId });
      this.applyRead(rs.room.id, state, 'live');
    } catch (err) {
      // The message was deleted meanwhile (validation_failed) or the room
      // is gone (not_found): nothing to retry. Otherwise keep it for the
      // next connection, unless a newer mark took its place.
      const lost = err instanceof SocketError && (err.code === 'validation_failed' || err.code === 'not_found');
      if (!lost && !rs.markPending) rs.markPending = messageId;
    }
  },

  /**
   * Send the marks that did not get through yet: after a (re)connect, or
   * `now` (without waiting out the interval) when the page is being left.
   */
  flushMarks({ now = false } = {}) {
    for (const rs of this.rooms.values()) {
      if (!rs.markPending) continue;
      if (now) {
        clearTimeout(rs.markTimer);
        rs.markTimer = null;
        this.sendMark(rs);
      } else {
        this.scheduleMark(rs);
      }
    }
  },

  /**
   * Take a room's read state as the server reports it ({lastReadId?,
   * unread, mentions}); `how` as for ReadState.adopt.
   */
  applyRead(roomId, state, how) {
    const rs = this.rooms.get(roomId);
    if (!rs || !rs.read.adopt(state, rs.held, this.me.id, how)) return;
    this.emit('rooms');
  },
};
