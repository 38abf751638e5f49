// Which of a room's messages notify the user: the room object's
// `notifications`, one of LEVELS, set with the room's bell (views/room-bell.js)
// and followed by the server's pushes and the page's own notifications.

import { isDirect } from './directory.js';

export const LEVELS = ['all', 'mentions', 'none'];

/** A room's level; the server's default when the room object has none (direct rooms: all). */
export function notificationLevel(room) {
  if (room && LEVELS.includes(room.notifications)) return room.notifications;
  return isDirect(room) ? 'all' : 'mentions';
}
