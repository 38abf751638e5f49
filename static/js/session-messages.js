// What the session does with what is said in a room: sending, editing and
// deleting messages, reacting, typing, and the frames about them
// (receiveMessage, typing, messageDeleted, messageEdited, reactionsUpdated). These are methods of ChatSession,
// mixed into its prototype by session.js to keep each file readable; they
// use the session's rooms, api, socket, me, currentRoomId and emit().

import { withReaction } from './reactions.js';

/** Names offered when "@" is typed. */
const MENTION_SUGGESTIONS = 8;
/** A private room's member list is read again after this long. */
const MEMBERS_FRESH_MS = 30000;
/** RoomState -> {at, names}: the member lists read for suggestions. */
const memberLists = new WeakMap();

/** The protocol relays typing at most once a second per user and room. */
const TYPING_SEND_INTERVAL_MS = 1000;
/** How long "X is typing" stays up after the last typing event. */
const TYPING_SHOW_MS = 3000;

export const messageMethods = {
  /**
   * Send a message with the records of the files uploaded for it (may be
   * empty); resolves with the ack, or with {queued: true} when it waits in
   * the outbox for the connection (outbox.js). The message itself comes
   * back as receiveMessage.
   */
  send(roomId, text, files = []) {
    return this.outbox.send(roomId, text, files);
  },

  /**
   * Change the text of one of our messages. The answer is applied at once;
   * the messageEdited event that follows changes nothing more.
   */
  async editMessage(roomId, id, text) {
    const msg = await this.api.editMessage(roomId, id, text);
    if (msg) this.onEdited({ ...msg, roomId: msg.roomId || roomId });
    return msg;
  },

  /** Delete a message for everyone. Already gone (404) counts as done. */
  async deleteMessage(roomId, id) {
    try {
      await this.api.deleteMessage(roomId, id);
    } catch (err) {
      if (err.status !== 404) throw err;
    }
    this.onDeleted({ roomId, id });
  },

  /**
   * Add (`on`) or take back my reaction `emoji` on a message. The server
   * announces the new list with reactionsUpdated; the change is also
   * applied at once, harmlessly if the announcement came first.
   */
  async react(roomId, id, emoji, on) {
    await this.api.react(roomId, id, emoji, on);
    const rs = this.rooms.get(roomId);
    const msg = rs && rs.messages.find((m) => m.id === id);
    if (!msg) return;
    const reactions = withReaction(msg.reactions, emoji, this.me.username, on);
    if (reactions !== msg.reactions) this.onReactions({ roomId, id, reactions });
  },

  /**
   * Who "@prefix" may mention in a room (usernames, not us): the members
   * of a private or direct room, or the directory's users for a public one.
   */
  async mentionCandidates(roomId, prefix) {
    const rs = this.rooms.get(roomId);
    if (!rs) return [];
    const isPublic = rs.room.kind ? rs.room.kind === 'public' : !rs.room.private;
    let names;
    if (isPublic) {
      names = (await this.api.searchUsers(prefix, MENTION_SUGGESTIONS + 1)).map((u) => u.username);
    } else {
      let cached = memberLists.get(rs);
      if (!cached || Date.now() - cached.at > MEMBERS_FRESH_MS) {
        cached = { at: Date.now(), names: (await this.api.members(roomId)).map((m) => m.username) };
        memberLists.set(rs, cached);
      }
      const wanted = prefix.toLowerCase();
      names = cached.names.filter((n) => n.toLowerCase().startsWith(wanted));
    }
    return names.filter((n) => n !== this.me.username)
      .sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }))
      .slice(0, MENTION_SUGGESTIONS);
  },

  /** Tell the room we are typing, at most once per TYPING_SEND_INTERVAL_MS. */
  typing(roomId) {
    const rs = this.rooms.get(roomId);
    if (!rs || !rs.joined || !this.socket.connected) return;
    const now = Date.now();
    if (now - rs.lastTypingSent < TYPING_SEND_INTERVAL_MS) return;
    rs.lastTypingSent = now;
    this.socket.request('typing', { roomId }).catch(() => {}); // best effort
  },

  /** Usernames currently typing in a room (excluding us). */
  typers(roomId) {
    const rs = this.rooms.get(roomId);
    if (!rs) return [];
    const now = Date.now();
    return [...rs.typing].filter(([, until]) => until > now).map(([user]) => user);
  },

  onMessage(msg) {
    const rs = this.rooms.get(msg.roomId);
    if (!rs || !msg.id) return;
    if (!rs.noteLive(msg)) return; // duplicate frame
    this.emit('received', { roomId: msg.roomId, message: msg });
    this.clearTyping(rs, msg.user);
    if (rs.takeLive(msg)) this.emit('appended', { roomId: msg.roomId, messages: [msg] });
    // After 'appended': a message the open room shows may be marked read already.
    if (rs.read.noteMessage(msg, this.me.id)) this.emit('rooms');
  },

  onTyping({ roomId, user }) {
    const rs = this.rooms.get(roomId);
    if (!rs || !user || user === this.me.username) return;
    rs.typing.set(user, Date.now() + TYPING_SHOW_MS);
    this.emit('typing', { roomId });
    // Re-announce when it runs out so the indicator disappears on time.
    setTimeout(() => this.emit('typing', { roomId }), TYPING_SHOW_MS + 50);
  },

  clearTyping(rs, user) {
    if (rs.typing.delete(user)) this.emit('typing', { roomId: rs.room.id });
  },

  onDeleted({ roomId, id }) {
    const rs = this.rooms.get(roomId);
    if (!rs) return;
    const had = rs.remove(id);
    if (rs.read.forget(id, rs.held, this.me.id)) this.emit('rooms');
    if (had) this.emit('removed', { roomId, id });
  },

  onEdited(msg) {
    const rs = this.rooms.get(msg.roomId);
    const message = rs ? rs.patch(msg.id, msg) : null;
    if (message) this.emit('updated', { roomId: msg.roomId, message });
  },

  /** reactionsUpdated: a message's whole list of reactions as it now stands. */
  onReactions({ roomId, id, reactions }) {
    const rs = this.rooms.get(roomId);
    const list = Array.isArray(reactions) ? reactions : [];
    const held = rs && rs.messages.find((m) => m.id === id);
    // My own change applied early, then announced: nothing to redraw.
    if (!held || JSON.stringify(held.reactions || []) === JSON.stringify(list)) return;
    const message = rs.patch(id, { reactions: list });
    this.emit('reactions', { roomId, message });
  },
};
