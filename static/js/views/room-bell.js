// The bell in the open room's header: which of the room's messages notify
// me (push, and the desktop notifications of a hidden page). Three levels,
// in a small menu; the room object carries the level as `notifications`,
// and the server's answer to a change is the room as it now is.

import { byId, icon, ICONS } from '../dom.js';
import { notificationLevel } from '../notification-level.js';

const WORDS = { all: 'All messages', mentions: 'Mentions only', none: 'Nothing' };

/** `getRoomId()` is the open room. */
export function mountRoomBell({ session, getRoomId }) {
  const button = byId('bell-btn');
  const label = byId('bell-label');
  const menu = byId('bell-menu');
  const items = [...menu.querySelectorAll('[role=menuitemradio]')];
  let shown = null;
  let busy = false;

  function update() {
    const rs = session.rooms.get(getRoomId());
    const level = notificationLevel(rs && rs.room);
    label.textContent = `Room notifications: ${WORDS[level].toLowerCase()}`;
    button.title = label.textContent;
    if (shown !== level) {
      button.querySelector('svg')?.remove();
      button.prepend(icon(level === 'none' ? ICONS.bellOff : ICONS.bell));
      button.dataset.level = level;
      shown = level;
    }
    for (const item of items) item.setAttribute('aria-checked', String(item.dataset.level === level));
  }

  function close(focusBell) {
    if (menu.hidden) return;
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    if (focusBell) button.focus();
  }

  function open() {
    update();
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    (items.find((i) => i.getAttribute('aria-checked') === 'true') || items[0]).focus();
  }

  async function choose(level) {
    const roomId = getRoomId();
    close(true);
    if (busy || !roomId) return;
    busy = true;
    try {
      const room = await session.api.setNotifications(roomId, level);
      if (room && session.rooms.has(room.id)) {
        session.putRoom(room);
        session.emit('rooms');
      }
    } catch (err) {
      session.emit('notice', { code: err.code, message: err.message, retryAfter: err.retryAfter });
    } finally {
      busy = false;
    }
  }

  button.addEventListener('click', () => (menu.hidden ? open() : close(true)));
  for (const item of items) item.addEventListener('click', () => choose(item.dataset.level));
  menu.addEventListener('keydown', (ev) => {
    // Tab leaves the menu the usual way, closing it behind.
    if (ev.key === 'Tab') return close(false);
    const at = items.indexOf(document.activeElement);
    const move = { ArrowDown: 1, ArrowUp: -1 }[ev.key];
    if (move) items[(at + move + items.length) % items.length].focus();
    else if (ev.key === 'Home') items[0].focus();
    else if (ev.key === 'End') items[items.length - 1].focus();
    else if (ev.key === 'Escape') close(true);
    else return;
    ev.preventDefault();
  });
  document.addEventListener('pointerdown', (ev) => {
    if (!menu.hidden && !ev.target.closest('.bell')) close(false);
  });
  session.addEventListener('rooms', update);
  update();
  return { update };
}
