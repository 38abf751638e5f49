// Desktop notifications raised by the page itself while it is open but
// hidden (another tab, minimised): a direct message or a mention of me
// shows at once, without waiting for the push. They look like the service
// worker's (sw.js) and carry the same tag, so when the push for the same
// room comes too, one replaces the other instead of both showing.

import { isDirect } from './directory.js';
import { notificationLevel } from './notification-level.js';

/** The body of a message that carries only files (as in sw.js). */
const FILES_ONLY = 'sent a file';
/**
 * Messages older than this are not news: after a reconnect the server
 * replays what was missed, which the push (if any) already told about.
 */
const FRESH_MS = 120000;

/** `onOpen(roomId)` shows a room (a click on the notification). */
export function mountLocalNotifications({ session, onOpen }) {
  // The open room on a visible page has been seen: its notifications go.
  let cleared = null;
  const clearSeen = () => {
    const roomId = document.visibilityState === 'visible' ? session.currentRoomId : null;
    if (roomId === cleared) return;
    cleared = roomId;
    if (roomId) closeShown(roomId);
  };
  document.addEventListener('visibilitychange', clearSeen);
  session.addEventListener('rooms', clearSeen);

  session.addEventListener('received', (e) => {
    const msg = e.detail.message;
    const rs = session.rooms.get(msg.roomId);
    if (!rs || !wanted(session, rs.room, msg)) return;
    const direct = isDirect(rs.room);
    const title = direct ? msg.user : `#${rs.room.name} — ${msg.user}`;
    show(title, {
      body: msg.message || FILES_ONLY,
      tag: `room-${msg.roomId}`,
      icon: '/icons/icon-192.png',
      data: { roomId: msg.roomId, messageId: msg.id },
    }, () => onOpen(msg.roomId));
  });
}

function wanted(session, room, msg) {
  if (document.visibilityState !== 'hidden') return false;
  if (!('Notification' in window) || Notification.permission !== 'granted') return false;
  if (msg.userId === session.me.id || notificationLevel(room) === 'none') return false;
  const at = Date.parse(msg.timestamp);
  if (Number.isFinite(at) && Date.now() - at > FRESH_MS) return false;
  const mentionsMe = Array.isArray(msg.mentions) && msg.mentions.includes(session.me.id);
  return isDirect(room) || mentionsMe;
}

function show(title, options, onClick) {
  try {
    const note = new Notification(title, options);
    note.addEventListener('click', () => {
      window.focus();
      onClick();
      note.close();
    });
  } catch {
    // Some browsers (Android's) only show notifications through the service
    // worker; its click handler then opens the room.
    navigator.serviceWorker?.ready.then((reg) => reg.showNotification(title, options)).catch(() => {});
  }
}

/** Close the notifications (pushed or the page's own, through the service worker) of a room. */
function closeShown(roomId) {
  if (!('serviceWorker' in navigator) || !navigator.serviceWorker.controller) return;
  navigator.serviceWorker.ready
    .then((reg) => reg.getNotifications({ tag: `room-${roomId}` }))
    .then((shown) => {
      for (const n of shown) n.close();
      // Closed by code, no notificationclose fires: the worker recounts the app's badge when told.
      if (shown.length) navigator.serviceWorker.controller?.postMessage({ type: 'notificationsClosed' });
    })
    .catch(() => {});
}
