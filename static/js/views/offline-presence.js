// Who is online is only known while the socket is up: once it drops, the
// people the sidebar and the people panel list as online may long have
// left. Then presence shows as unknown ("offline", greyed) until the
// socket is back and the rooms' join acks bring the lists again.

/** Socket states in which the presence lists are stale. */
const STALE_STATES = new Set(['reconnecting', 'closed']);

/** Whether the session's presence lists can be trusted now. */
export function presenceKnown(session) {
  return !STALE_STATES.has(session.socket.state);
}

/**
 * Redraw every view that shows presence when it turns unknown or known
 * again: they all listen to the session's 'presence' and 'rooms' events.
 */
export function mountOfflinePresence({ session }) {
  let known = presenceKnown(session);
  session.addEventListener('connection', () => {
    const now = presenceKnown(session);
    if (now === known) return;
    known = now;
    session.emit('presence');
    session.emit('rooms');
  });
}
