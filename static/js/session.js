// The logged-in chat session: the rooms the user can see, their messages,
// presence, typing and unread counts, kept in step with the server over
// one WebSocket joined to every listed room. The room list itself follows
// the server's roomAdded / roomUpdated / roomRemoved / roomDeleted events;
// it is read again from GET /api/rooms only after a reconnect. Views read this state and
// listen to the events it dispatches; they never talk to the socket.
// One room's history lives in room-state.js; what the session does with
// messages (send, edit, delete, typing and their frames) in session-messages.js;
// read marks and unread counts in session-read.js and read-state.js.

import { isDirect } from './directory.js';
import { RoomState } from './room-state.js';
import { FileLinks } from './file-links.js';
import { Outbox } from './outbox.js';
import { messageMethods } from './session-messages.js';
import { anchorMethods } from './session-anchor.js';
import { readMethods } from './session-read.js';
import { ChatSocket, SocketError } from './socket.js';
import { Uploads } from './uploads.js';

/**
 * WebSocket close code "policy violation": the server's answer both to a
 * client that misbehaves and to the connections of a disabled user.
 */
const CLOSE_POLICY = 1008;

/**
 * Events (CustomEvent; detail has roomId where relevant):
 * rooms · connection {state, delayMs} · reset · received {message} (each new message, once) · appended {messages} ·
 * prepended {messages} · updated {message} · removed {id} ·
 * reactions {message} · presence ·
 * typing · room-dropped {room, reason} · notice {code, message} ·
 * me (the user's own record changed, e.g. its role) ·
 * outbox {roomId} (messages waiting to be sent changed, outbox.js)
 */
export class ChatSession extends EventTarget {
  constructor({ api, token, me }) {
    super();
    this.api = api;
    this.token = token;
    this.me = me;
    this.rooms = new Map();
    this.currentRoomId = null;
    this.everConnected = false;
    /** Counts room-list events, so a list fetch can tell which ones came after it started. */
    this.roomEvents = 0;
    /** roomId -> value of roomEvents when an event last added, changed or removed it. */
    this.roomEventAt = new Map();
    this.socket = new ChatSocket(() => {
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      return `${scheme}://${location.host}/ws?token=${encodeURIComponent(this.token)}`;
    });
    this.socket.addEventListener('state', (e) => this.emit('connection', e.detail));
    this.socket.addEventListener('open', () => this.onOpen());
    this.socket.addEventListener('frame', (e) => this.onFrame(e.detail));
    this.socket.addEventListener('failed', () => this.checkToken());
    // Disabling a user closes its connections with 1008; so does misbehaving.
    // Only the token check tells them apart (401 ends the session).
    this.socket.addEventListener('closed', (e) => { if (e.detail.code === CLOSE_POLICY) this.checkToken(); });
    /** Set once the room list was read: queued messages wait for it. */
    this.roomsKnown = false;
    /** Messages written while disconnected (outbox.js). */
    this.outbox = new Outbox(this);
    /** Files on their way to a room (uploads.js), and the signed links that show files (file-links.js). */
    this.uploads = new Uploads(api);
    this.fileLinks = new FileLinks(api);
  }

  /** Connect and fetch the room list; rooms found after the socket opened are joined as they come. */
  async start() {
    this.socket.start();
    await this.refreshRooms();
    this.roomsKnown = true;
    this.outbox.flush();
  }

  stop() {
    this.socket.stop();
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Rooms sorted by name, as the sidebar shows them. */
  roomList() {
    return [...this.rooms.values()].sort((a, b) =>
      a.room.name.localeCompare(b.room.name, undefined, { sensitivity: 'base' }));
  }

  get current() {
    return this.currentRoomId ? this.rooms.get(this.currentRoomId) || null : null;
  }

  totalUnread() {
    let n = 0;
    for (const rs of this.rooms.values()) n += rs.unread;
    return n;
  }

  // ---- who may do what ----------------------------------------------------
  // The server decides; these only choose which controls to offer.

  get isAdmin() {
    return this.me.role === 'admin';
  }

  /** Only the author edits a message, whatever its role. */
  canEdit(msg) {
    return msg.userId === this.me.id;
  }

  /** The author, the room's owner or an admin deletes a message (a direct room's starter is no owner). */
  canDelete(roomId, msg) {
    const rs = this.rooms.get(roomId);
    return msg.userId === this.me.id || this.isAdmin || Boolean(rs && !isDirect(rs.room) && rs.room.ownerId === this.me.id);
  }

  /** The room's owner or an admin deletes a room, renames it and changes its description; a direct room has no settings. */
  canManageRoom(roomId) {
    const rs = this.rooms.get(roomId);
    return Boolean(rs) && !isDirect(rs.room) && (rs.room.ownerId === this.me.id || this.isAdmin);
  }

  /** A member other than the owner leaves a private room; a direct room's people are fixed. */
  canLeave(roomId) {
    const rs = this.rooms.get(roomId);
    return Boolean(rs) && rs.room.private && !isDirect(rs.room) && rs.room.ownerId !== this.me.id;
  }

  /** Re-read our own user: a role granted meanwhile (create-admin) shows up. */
  async refreshMe() {
    const me = await this.api.me();
    const changed = me.role !== this.me.role || me.username !== this.me.username;
    this.me = { ...this.me, ...me };
    if (changed) this.emit('me');
  }

  // ---- rooms -------------------------------------------------------------

  /**
   * Sync the room list with GET /api/rooms: add, update, drop. A room that
   * a room-list event touched while the request was under way is left as
   * the event made it: the event is newer than the answer.
   */
  async refreshRooms() {
    const startedAt = this.roomEvents;
    const newer = (id) => this.roomEventSince(id, startedAt);
    const list = await this.api.rooms();
    const present = new Set();
    for (const room of list) {
      present.add(room.id);
      if (!newer(room.id)) this.putRoom(room);
    }
    for (const rs of [...this.rooms.values()]) {
      if (!present.has(rs.room.id) && !newer(rs.room.id)) this.dropRoom(rs.room.id, 'removed');
    }
    this.emit('rooms');
  }

  /** Add a room we can now see, or take in the new state of one we know (joined once the socket is up). */
  putRoom(room) {
    const rs = this.rooms.get(room.id);
    if (rs) {
      rs.room = { ...rs.room, ...room };
      return;
    }
    const fresh = new RoomState(room);
    fresh.read.adopt(room, null, this.me.id);
    this.rooms.set(room.id, fresh);
    if (this.socket.connected) this.join(fresh);
  }

  /** roomAdded / roomUpdated: the room as it now is, visible to us. */
  onRoomEvent(room) {
    if (!room || !room.id) return;
    this.noteRoomEvent(room.id);
    this.putRoom(room);
    this.emit('rooms');
    // Also sent to a private room's members when someone joins or leaves it.
    this.emit('roomchange', { roomId: room.id });
  }

  /** roomRemoved / roomDeleted: the room is gone from our list. */
  onRoomGone(roomId, reason) {
    if (!roomId) return;
    this.noteRoomEvent(roomId);
    this.dropRoom(roomId, reason);
  }

  noteRoomEvent(roomId) {
    this.roomEventAt.set(roomId, this.roomEvents);
    this.roomEvents += 1;
  }

  /** Whether a room-list event about `roomId` came once roomEvents was `mark`. */
  roomEventSince(roomId, mark) {
    return (this.roomEventAt.get(roomId) ?? -1) >= mark;
  }

  async createRoom({ name, description, isPrivate }) {
    const room = await this.api.createRoom({ name, description, private: isPrivate });
    // The roomAdded event may have come first: then this changes nothing.
    if (!this.rooms.has(room.id)) {
      this.putRoom(room);
      this.emit('rooms');
    }
    return room;
  }

  /**
   * Rename a room or change its description (owner or admin). The answer
   * is applied at once; the roomUpdated event that follows changes nothing more.
   */
  async updateRoom(roomId, changes) {
    const startedAt = this.roomEvents;
    const room = await this.api.updateRoom(roomId, changes);
    // An event about the room during the request is at least as new as the answer.
    if (room && this.rooms.has(room.id) && !this.roomEventSince(roomId, startedAt)) {
      this.putRoom(room);
      this.emit('rooms');
    }
    return room;
  }

  dropRoom(roomId, reason) {
    const rs = this.rooms.get(roomId);
    if (!rs) return;
    this.rooms.delete(roomId);
    rs.generation += 1;
    if (this.currentRoomId === roomId) this.currentRoomId = null;
    this.emit('room-dropped', { roomId, room: rs.room, reason });
    this.emit('rooms');
  }

  /**
   * Make `roomId` the viewed room and load its history (what is on screen
   * then counts as read); with `messageId`, the history around that message.
   */
  select(roomId, messageId = null) {
    const rs = this.rooms.get(roomId);
    if (!rs) return null;
    this.currentRoomId = roomId;
    this.emit('rooms');
    const notice = (err) => this.emit('notice', { code: err.code, message: err.message });
    if (messageId) this.loadAround(rs, messageId).catch(notice);
    else if (!rs.loaded) this.load(rs).catch(notice);
    return rs;
  }

  addMember(roomId, username) {
    return this.api.addMember(roomId, username);
  }

  removeMember(roomId, username) {
    return this.api.removeMember(roomId, username);
  }

  /** Delete a room for everyone; the server tells the others with roomDeleted. */
  async deleteRoom(roomId) {
    await this.api.deleteRoom(roomId);
    this.dropRoom(roomId, 'deleted');
  }

  /** Admin: every user of the server. */
  users() {
    return this.api.users();
  }

  /** Admin: add an account ({username, password, role}); resolves to the new user. */
  createUser(user) {
    return this.api.createUser(user);
  }

  /** Admin: disable (logs the user out everywhere at once) or enable a user. */
  setUserDisabled(userId, disabled) {
    return this.api.setUserDisabled(userId, disabled);
  }

  /** Admin: make a user an admin or a regular user ('admin' | 'user'); an admin cannot demote itself. */
  setUserRole(userId, role) {
    return this.api.setUserRole(userId, role);
  }

  /** Admin: give a user a new password; the user is logged out everywhere at once. */
  resetPassword(userId, password) {
    return this.api.resetPassword(userId, password);
  }

  /** A member leaves a private room; the server confirms with roomRemoved. */
  async leave(roomId) {
    await this.api.removeMember(roomId, this.me.username);
    this.dropRoom(roomId, 'left');
  }

  // ---- history -----------------------------------------------------------

  /** Load the newest page of a room, merging live messages that raced it. */
  load(rs) {
    return rs.load(this.api, {
      stillListed: () => this.rooms.has(rs.room.id),
      onLoaded: () => this.emit('reset', { roomId: rs.room.id }),
    });
  }

  /** Load the page before the oldest message we have (scroll-up). */
  loadOlder(rs) {
    return rs.loadOlder(this.api, (messages) => this.emit('prepended', { roomId: rs.room.id, messages }));
  }

  // ---- socket ------------------------------------------------------------

  onOpen() {
    for (const rs of this.rooms.values()) this.join(rs);
    // Rooms may have been created, shared, changed or taken away while we
    // were away: the server does not replay room-list events.
    if (this.everConnected) this.refreshRooms().catch(() => {});
    this.everConnected = true;
    this.flushMarks();
    this.outbox.flush();
  }

  /**
   * Join a room on the current connection. With its history loaded we
   * pass the newest message as `since`, and the server replays everything
   * after it: nothing missed while disconnected, nothing twice. A room
   * not loaded needs no replay: the ack's read state has its counts.
   */
  join(rs) {
    rs.joined = false;
    const since = rs.loaded ? rs.lastId : null;
    const data = since ? { roomId: rs.room.id, since } : { roomId: rs.room.id };
    const p = this.socket.request('joinRoom', data).then((ack) => {
      if (this.rooms.get(rs.room.id) !== rs) return;
      rs.joined = true;
      rs.joinGen += 1;
      if (ack.room) {
        rs.room = { ...rs.room, ...ack.room };
        this.applyRead(rs.room.id, ack.room, since ? 'resumed' : 'joined');
      }
      rs.users = new Set(Array.isArray(ack.users) ? ack.users : []);
      this.emit('presence', { roomId: rs.room.id });
      this.emit('rooms');
      // Loaded but empty, so no cursor: anything sent while we were away
      // was not replayed. Fetch the history again.
      if (!since && rs.loaded) this.reload(rs);
    }, (err) => {
      if (!(err instanceof SocketError)) throw err;
      if (err.code === 'validation_failed' && since) {
        // The cursor is not a message of this room any more (e.g. it was
        // deleted): start over from the newest history.
        rs.forgetCursor();
        this.emit('reset', { roomId: rs.room.id });
        if (this.rooms.get(rs.room.id) === rs) this.join(rs);
        if (this.currentRoomId === rs.room.id) this.load(rs).catch(() => {});
      } else if (err.code === 'not_found') {
        this.dropRoom(rs.room.id, 'removed');
      }
      // offline / disconnected / timeout: the next connection joins again.
    }).finally(() => {
      if (rs.joinPromise === p) rs.joinPromise = null;
    });
    rs.joinPromise = p;
    return p;
  }

  reload(rs) {
    rs.reset();
    this.emit('reset', { roomId: rs.room.id });
    if (this.currentRoomId === rs.room.id) this.load(rs).catch(() => {});
  }

  /** If the socket cannot even connect, check whether the token died. */
  async checkToken() {
    try {
      await this.api.me();
    } catch {
      // A 401 reaches the app through the api's onUnauthorized hook;
      // anything else (server down) just means: keep retrying.
    }
  }

  onFrame({ event, data }) {
    switch (event) {
      case 'receiveMessage': return this.onMessage(data);
      case 'userJoined': return this.onPresence(data, true);
      case 'userLeft': return this.onPresence(data, false);
      case 'typing': return this.onTyping(data);
      case 'roomAdded':
      case 'roomUpdated': return this.onRoomEvent(data.room);
      case 'roomRemoved': return this.onRoomGone(data.roomId, 'removed');
      case 'roomDeleted': return this.onRoomGone(data.roomId, 'deleted');
      case 'messageDeleted': return this.onDeleted(data);
      case 'messageEdited': return this.onEdited(data);
      case 'reactionsUpdated': return this.onReactions(data);
      case 'readUpdated': return this.applyRead(data.roomId, data, 'live');
      case 'error': return this.emit('notice', { code: data.code, message: data.message });
      default: return undefined; // future events: ignore
    }
  }

  onPresence({ roomId, user }, online) {
    const rs = this.rooms.get(roomId);
    if (!rs || !user) return;
    if (online) rs.users.add(user);
    else {
      rs.users.delete(user);
      this.clearTyping(rs, user);
    }
    this.emit('presence', { roomId });
    this.emit('rooms');
  }
}

// Sending, editing, deleting, typing and the frames about messages.
Object.assign(ChatSession.prototype, messageMethods);
// Opening a room at one message, and the newer pages after it.
Object.assign(ChatSession.prototype, anchorMethods);
// Read marks and the counts after them.
Object.assign(ChatSession.prototype, readMethods);
