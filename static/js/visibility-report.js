// Tells the server whether this page is visible (`presence {visible}`), on
// every change and after each (re)connect: the server sends no push
// notification for a room to a user whose page shows it, or did within the
// last half minute. A server that does not know the event answers with an
// error, which changes nothing here.

export function reportVisibility(socket) {
  const send = () => {
    if (!socket.connected) return;
    socket.request('presence', { visible: document.visibilityState === 'visible' }).catch(() => {});
  };
  socket.addEventListener('open', send);
  document.addEventListener('visibilitychange', send);
}
