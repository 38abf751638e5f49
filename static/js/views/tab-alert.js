// The browser tab's title and icon. While the page is visible the title
// counts the unread messages of every room, as before: "(2) Chatroom".
// While the tab is hidden, messages that arrive in the open room are
// counted apart and named with it, "(3) general · Chatroom", and the icon
// gets a red dot, so a glance at the tab bar tells that the conversation
// moved on. Both come back as they were once the page is visible again
// (the read marker then marks what is on screen as read).

const APP_NAME = 'Chatroom';
const ICON = 'favicon.svg';
/** The same icon with a red dot in its corner. */
const ICON_UNREAD = 'favicon-unread.svg';

/** `getRoomId()` is the open room. */
export function mountTabAlert({ session, getRoomId }) {
  const link = document.querySelector('link[rel="icon"]');
  /** While hidden: the open room and its unread count when the tab was left. */
  let away = null;

  const hidden = () => document.visibilityState === 'hidden';

  /** Messages of others that came into the open room since the tab was hidden. */
  function arrivedWhileAway() {
    if (!away || away.roomId !== getRoomId()) return 0;
    const rs = session.rooms.get(away.roomId);
    // A read on another device lowers the count below where it was: nothing new then.
    return rs ? Math.max(0, rs.unread - away.unread) : 0;
  }

  function update() {
    const arrived = arrivedWhileAway();
    const rs = arrived > 0 ? session.rooms.get(away.roomId) : null;
    const total = session.totalUnread();
    document.title = rs ? `(${arrived}) ${rs.room.name} · ${APP_NAME}`
      : total > 0 ? `(${total}) ${APP_NAME}` : APP_NAME;
    const href = rs ? ICON_UNREAD : ICON;
    if (link && link.getAttribute('href') !== href) link.setAttribute('href', href);
  }

  document.addEventListener('visibilitychange', () => {
    const rs = session.rooms.get(getRoomId());
    away = hidden() && rs ? { roomId: rs.room.id, unread: rs.unread } : null;
    update();
  });
  session.addEventListener('rooms', update);
  return { update };
}
