// The room list and, under it, the direct conversations (a sidebar on
// desktop, a drawer on phones), with the "new room" and "new message" dialogs.

import { isDirect } from '../directory.js';
import { byId, el, icon, ICONS } from '../dom.js';
import { describeError } from '../errors.js';
import { roomFieldsProblem } from '../room-fields.js';
import { avatar } from '../render.js';
import { mountDirectMessages } from './direct-messages.js';
import { presenceKnown } from './offline-presence.js';
import { mountRoomFilter } from './room-filter.js';
import { mountRoving } from './roving.js';

/** Below this width the sidebar is a drawer (keep in step with style.css). */
const DRAWER_QUERY = '(max-width: 800px)';

export function mountSidebar({ session, directory, onSelect }) {
  const list = byId('room-list');
  const empty = byId('rooms-empty');
  const dmList = byId('dm-list');
  const dmEmpty = byId('dms-empty');
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
      const target = sidebar.querySelector('[aria-current="page"]') || list.querySelector('button') || byId('new-room-btn');
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
  // Rooms and conversations together are one Tab stop, the open room; the arrow keys move inside.
  mountRoving({
    container: sidebar,
    items: () => [...sidebar.querySelectorAll('button[data-room-id]')].filter((b) => !b.closest('[hidden]')),
    home: () => sidebar.querySelector('button[data-room-id][aria-current="page"]'),
  });

  function roomItem(rs) {
    const { room } = rs;
    const current = room.id === session.currentRoomId;
    const known = presenceKnown(session);
    const online = known ? rs.online : 0;
    // The tooltip shows a name the sidebar cuts off. One line per room: the
    // online count shows for the open room and on hover (style.css).
    const label = el('span', { className: 'room-name', text: room.name, attrs: { title: room.name } });
    const meta = el('span', { className: 'room-meta' },
      el('span', { className: online > 0 ? 'dot online' : 'dot', attrs: { 'aria-hidden': 'true' } }),
      el('span', { className: 'room-online', text: known ? `${online} online` : 'offline' }));
    const badge = rs.unread > 0
      ? el('span', { className: 'badge' }, String(rs.unread > 99 ? '99+' : rs.unread),
        el('span', { className: 'visually-hidden', text: ' unread' }))
      : null;
    // Mentions of me among the unread messages, apart from their count.
    const mentionBadge = rs.mentions > 0
      ? el('span', { className: 'mention-badge' }, `@${rs.mentions > 99 ? '99+' : rs.mentions}`,
        el('span', { className: 'visually-hidden', text: rs.mentions === 1 ? ' mention' : ' mentions' }))
      : null;
    // A room set to notify nothing (the bell's "Nothing") says so quietly.
    const muted = room.notifications === 'none'
      ? el('span', { className: 'room-muted', attrs: { title: 'Notifications off' } }, icon(ICONS.bellOff, 14),
        el('span', { className: 'visually-hidden', text: ' notifications off' }))
      : null;
    const btn = el('button', {
      type: 'button',
      className: rs.unread > 0 ? 'room-btn has-unread' : 'room-btn',
      dataset: { roomId: room.id },
      attrs: { 'aria-current': current ? 'page' : false },
      on: { click: () => { onSelect(room.id); if (drawer.matches) setOpen(false); } },
    },
    roomIcon(room),
    el('span', { className: 'room-text' }, label, meta),
    muted,
    mentionBadge,
    badge);
    return el('li', {}, btn);
  }

  const filter = mountRoomFilter({ sidebar });

  function render() {
    const all = session.roomList();
    const rooms = all.filter((rs) => !isDirect(rs.room));
    const direct = all.filter((rs) => isDirect(rs.room));
    // Keep keyboard focus on the same room across re-renders.
    const focused = document.activeElement;
    const focusedId = focused && (list.contains(focused) || dmList.contains(focused)) ? focused.dataset.roomId : null;
    list.replaceChildren(...rooms.map(roomItem));
    empty.hidden = rooms.length > 0;
    dmList.replaceChildren(...direct.map(roomItem));
    dmEmpty.hidden = direct.length > 0;
    filter.apply();
    if (focusedId) {
      const again = sidebar.querySelector(`[data-room-id="${CSS.escape(focusedId)}"]`);
      if (again) again.focus();
    }
    const unread = session.totalUnread();
    toggleBadge.hidden = unread === 0;
    toggleBadge.textContent = unread > 99 ? '99+' : String(unread);
  }

  session.addEventListener('rooms', render);
  const openCreated = (roomId) => { onSelect(roomId); if (drawer.matches) setOpen(false); };
  mountNewRoomDialog({ session, onCreated: (room) => openCreated(room.id) });
  mountDirectMessages({ session, directory, onOpen: openCreated });
  render();
  return { render, close: () => setOpen(false) };
}

/** A room's picture: # or a lock for rooms; for a conversation, the other person's avatar (or a group). */
function roomIcon(room) {
  if (isDirect(room)) {
    const others = room.name.split(', ');
    return el('span', { className: 'room-icon' }, others.length === 1 ? avatar(room.name) : icon(ICONS.users, 16),
      el('span', { className: 'visually-hidden', text: 'Direct message: ' }));
  }
  return el('span', { className: 'room-icon' }, icon(room.private ? ICONS.lock : ICONS.hash, 16),
    room.private ? el('span', { className: 'visually-hidden', text: 'Private: ' }) : null);
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
