// The people a user can reach: the user directory behind the name pickers,
// direct rooms, and the member lists of private and direct rooms. Views ask
// this module, as they ask the session about rooms; neither view talks to
// the api itself.

/** A room's `kind` for a direct conversation (its people are fixed, it has no owner's rights). */
export const DIRECT = 'direct';

/** Whether `room` is a direct conversation rather than a named room. */
export const isDirect = (room) => Boolean(room) && room.kind === DIRECT;

/** The most people a direct room is started with, besides the user (the server's rule). */
export const MAX_DIRECT_PEOPLE = 8;

export class Directory {
  /** `session` is the ChatSession: direct rooms started here join its room list. */
  constructor(session) {
    this.session = session;
  }

  /** Up to `limit` enabled users (`{id, username}`) whose name starts with `prefix`, any case. */
  search(prefix, limit) {
    return this.session.api.searchUsers(prefix, limit);
  }

  /**
   * The direct room of the user and `usernames`, started on first use.
   * It is in the session's room list once this resolves: the roomAdded
   * event of a room started now may come before or after the answer.
   */
  async openDirect(usernames) {
    const room = await this.session.api.startDirect(usernames);
    if (room && room.id && !this.session.rooms.has(room.id)) {
      this.session.putRoom(room);
      this.session.emit('rooms');
    }
    return room;
  }

  /** Every member of a private or direct room: `[{id, username, role: 'owner'|'member'}]`. */
  members(roomId) {
    return this.session.api.members(roomId);
  }
}
