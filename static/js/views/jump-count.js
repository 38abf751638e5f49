// The "New messages" pill over the log (shown by views/chat.js when
// messages arrive while the reader is scrolled up) says how many came:
// "3 new messages". The count starts when the pill appears and is dropped
// when the pill goes (the reader reached the bottom) or the room changes.
// Mounted after the chat view, so its 'appended' listener runs once the
// chat has decided whether to show the pill.

import { byId, el } from '../dom.js';

/** `getRoomId()` is the open room. */
export function mountJumpCount({ session, getRoomId }) {
  const jump = byId('jump-latest');
  const label = el('span', { className: 'jump-label', text: 'New messages' });
  // The icon stays; the button's own text is replaced by the counted label.
  for (const node of [...jump.childNodes]) if (node.nodeType === Node.TEXT_NODE) node.remove();
  jump.append(label);

  let count = 0;
  let countedRoom = null;

  function render() {
    label.textContent = count === 0 ? 'New messages' : `${count > 99 ? '99+' : count} new message${count === 1 ? '' : 's'}`;
  }

  function reset() {
    count = 0;
    render();
  }

  session.addEventListener('appended', (ev) => {
    const { roomId, messages } = ev.detail;
    if (roomId !== getRoomId()) return;
    if (jump.hidden || countedRoom !== roomId) count = 0;
    countedRoom = roomId;
    if (!jump.hidden) count += messages.length;
    render();
  });
  new MutationObserver(() => { if (jump.hidden) reset(); }).observe(jump, { attributes: true, attributeFilter: ['hidden'] });
}
