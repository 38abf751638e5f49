// Ways into a room from outside the page. A notification clicked while no
// tab of the app is open opens `/?room=ID&message=MID`; one clicked while a
// tab is open has the service worker (sw.js) tell that tab
// `{type: 'openRoom', roomId, messageId}`. The message is optional: with it
// the room opens at that message (session-anchor.js).

const ROOM_PARAM = 'room';
const MESSAGE_PARAM = 'message';

/**
 * The room `?room=ID` asks for, and the message `&message=MID` (or null),
 * or null. The parameters are taken off the address at once, so that a
 * reload or a bookmark lands as usual.
 */
export function takeRoomFromUrl() {
  const params = new URLSearchParams(location.search);
  const id = params.get(ROOM_PARAM);
  if (id === null) return null;
  const messageId = params.get(MESSAGE_PARAM) || null;
  params.delete(ROOM_PARAM);
  params.delete(MESSAGE_PARAM);
  const rest = params.toString();
  history.replaceState(history.state, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
  return id ? { roomId: id, messageId } : null;
}

/** Call `open(roomId, messageId)` whenever the service worker asks this tab to show a room (messageId may be null). */
export function onOpenRoomRequest(open) {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (ev) => {
    const data = ev.data;
    if (!data || data.type !== 'openRoom' || typeof data.roomId !== 'string') return;
    open(data.roomId, typeof data.messageId === 'string' && data.messageId ? data.messageId : null);
  });
  // Messages wait in a queue until the page says it listens.
  navigator.serviceWorker.startMessages();
}
