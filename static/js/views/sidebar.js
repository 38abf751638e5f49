// The room list (a sidebar on desktop, a drawer on phones) and the
// "new room" dialog.

import { byId, el, icon, ICONS } from '../dom.js';
import { describeError } from '../errors.js';
import { roomFieldsProblem } from '../room-fields.js';

/** Below this width the sidebar is a drawer (keep in step with style.css). */
const DRAWER_QUERY = '(max-width: 800px)';

export function mountSidebar({ session, onSelect }) {
  const list = byId('room-list');
  const empty = byId('rooms-empty');
  const sidebar = byId('sidebar');
  const toggle = byId('rooms-toggle');
  const toggleBadge = byId('rooms-toggle-badge');
  const scrim = byId('scrim');
  const drawer = window.matchMedia(DRAWER_QUERY);

  function setOpen(open) {
    sidebar.classList.toggle('open', open);
    toggle.setAttribute('aria-expanded', String(open));
    scrim.hidden = !open;
    if (open) {
      const target = list.querySelector('[aria-current="page"]') || list.querySelector('button') || byId('new-room-btn');
      target.focus();
    }
  }

  toggle.addEventListener('click', () => setOpen(!sidebar.classList.contains('open')));
  scrim.addEventListener('click', () => setOpen(false));
  sidebar.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && drawer.matches && sidebar.classList.contains('open')) {
      setOpen(false);
      toggle.focus();
    }
  });
  drawer.addEventListener('change', () => setOpen(false));

  function roomItem(rs) {
    const { room } = rs;
    const current = room.id === session.currentRoomId;
    const label = el('span', { className: 'room-name', text: room.name });
    const online = rs.online;
    const meta = el('span', { className: 'room-meta' },
      el('span', { className: online > 0 ? 'dot online' : 'dot', attrs: { 'aria-hidden': 'true' } }),
      el('span', { className: 'room-online', text: `${online} online` }));
    const badge = rs.unread > 0
      ? el('span', { className: 'badge' }, String(rs.unread > 99 ? '99+' : rs.unread),
        el('span', { className: 'visually-hidden', text: ' unread' }))
      : null;
    // Mentions of me among the unread messages, apart from their count.
    const mentionBadge = rs.mentions > 0
      ? el('span', { className: 'mention-badge' }, `@${rs.mentions > 99 ? '99+' : rs.mentions}`,
        el('span', { className: 'visually-hidden', text: rs.mentions === 1 ? ' mention' : ' mentions' }))
      : null;
    const btn = el('button', {
      type: 'button',
      className: rs.unread > 0 ? 'room-btn has-unread' : 'room-btn',
      dataset: { roomId: room.id },
      attrs: { 'aria-current': current ? 'page' : false },
      on: { click: () => { onSelect(room.id); if (drawer.matches) setOpen(false); } },
    },
    el('span', { className: 'room-icon' }, icon(room.private ? ICONS.lock : ICONS.hash, 16),
      room.private ? el('span', { className: 'visually-hidden', text: 'Private: ' }) : null),
    el('span', { className: 'room-text' }, label, meta),
    mentionBadge,
    badge);
    return el('li', {}, btn);
  }

  function render() {
    const rooms = session.roomList();
    // Keep keyboard focus on the same room across re-renders.
    const focusedId = document.activeElement && list.contains(document.activeElement)
      ? document.activeElement.dataset.roomId : null;
    list.replaceChildren(...rooms.map(roomItem));
    empty.hidden = rooms.length > 0;
    if (focusedId) {
      const again = list.querySelector(`[data-room-id="${CSS.escape(focusedId)}"]`);
      if (again) again.focus();
    }
    const unread = session.totalUnread();
    toggleBadge.hidden = unread === 0;
    toggleBadge.textContent = unread > 99 ? '99+' : String(unread);
  }

  session.addEventListener('rooms', render);
  mountNewRoomDialog({ session, onCreated: (room) => { onSelect(room.id); if (drawer.matches) setOpen(false); } });
  render();
  return { render, close: () => setOpen(false) };
}

function mountNewRoomDialog({ session, onCreated }) {
  const dialog = byId('new-room-dialog');
  const form = byId('new-room-form');
  const name = byId('room-name');
  const description = byId('room-description');
  const isPrivate = byId('room-private');
  const error = byId('new-room-error');
  const opener = byId('new-room-btn');

  opener.addEventListener('click', () => {
    form.reset();
    error.textContent = '';
    dialog.showModal();
    name.focus();
  });
  byId('new-room-cancel').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => opener.focus());

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const trimmed = name.value.trim();
    const problem = roomFieldsProblem(trimmed, description.value);
    if (problem) {
      error.textContent = problem.text;
      if (problem.field === 'name') name.focus();
      return;
    }
    const submit = form.querySelector('button[type=submit]');
    submit.disabled = true;
    error.textContent = '';
    try {
      const room = await session.createRoom({ name: trimmed, description: description.value.trim(), isPrivate: isPrivate.checked });
      dialog.close();
      onCreated(room);
    } catch (err) {
      error.textContent = describeError(err);
      if (err.code === 'room_name_taken') name.focus();
    } finally {
      submit.disabled = false;
    }
  });
}
