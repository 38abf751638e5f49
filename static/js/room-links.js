// Ways into a room from outside the page. A notification clicked while no
// tab of the app is open opens `/?room=ID`; one clicked while a tab is open
// has the service worker (sw.js) tell that tab `{type: 'openRoom', roomId}`.

const ROOM_PARAM = 'room';

/**
 * The room `?room=ID` asks for, or null. The parameter is taken off the
 * address at once, so that a reload or a bookmark lands as usual.
 */
export function takeRoomFromUrl() {
  const params = new URLSearchParams(location.search);
  const id = params.get(ROOM_PARAM);
  if (id === null) return null;
  params.delete(ROOM_PARAM);
  const rest = params.toString();
  history.replaceState(history.state, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
  return id || null;
}

/** Call `open(roomId)` whenever the service worker asks this tab to show a room. */
export function onOpenRoomRequest(open) {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (ev) => {
    const data = ev.data;
    if (data && data.type === 'openRoom' && typeof data.roomId === 'string') open(data.roomId);
  });
  // Messages wait in a queue until the page says it listens.
  navigator.serviceWorker.startMessages();
}
