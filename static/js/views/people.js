// The people panel: who is online in the open room and, for private and
// direct rooms, its member list (views/members.js).

import { byId, el } from '../dom.js';
import { avatar } from '../render.js';
import { mountMembers } from './members.js';
import { presenceKnown } from './offline-presence.js';

/** Wide screens show the panel beside the log; narrower ones as an overlay. */
const OVERLAY_QUERY = '(max-width: 1100px)';

export function mountPeople({ session, directory, getRoomId }) {
  const panel = byId('people');
  const toggle = byId('people-toggle');
  const closeBtn = byId('people-close');
  const count = byId('people-count');
  const countSuffix = toggle.querySelector('.visually-hidden');
  const onlineCount = byId('online-count');
  const list = byId('online-list');
  const members = mountMembers({ session, directory, getRoomId });
  const overlay = window.matchMedia(OVERLAY_QUERY);
  let open = !overlay.matches;

  function setOpen(value) {
    open = value;
    panel.classList.toggle('open', open);
    toggle.setAttribute('aria-expanded', String(open));
  }
  setOpen(open);
  overlay.addEventListener('change', () => setOpen(!overlay.matches));
  toggle.addEventListener('click', () => {
    setOpen(!open);
    if (open) (panel.querySelector('button, input') || panel).focus();
  });
  closeBtn.addEventListener('click', () => { setOpen(false); toggle.focus(); });
  panel.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && overlay.matches) { setOpen(false); toggle.focus(); }
  });

  function render() {
    const rs = session.rooms.get(getRoomId());
    if (!rs) return;
    const users = [...rs.users].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }));
    // Disconnected: the last known people stay, greyed, under "offline".
    const known = presenceKnown(session);
    count.textContent = known ? String(rs.online) : 'offline';
    countSuffix.textContent = known ? ' online, show people' : ', show people';
    onlineCount.textContent = known ? `(${rs.online})` : '(offline)';
    list.replaceChildren(...users.map((name) => el('li', { className: known ? 'person' : 'person offline' },
      avatar(name),
      el('span', { className: 'person-name', text: name }),
      name === session.me.username ? el('span', { className: 'tag', text: 'you' }) : null)));
    if (users.length === 0) list.append(el('li', { className: 'muted', text: rs.joined ? 'Nobody here.' : 'Connecting…' }));
    members.render();
  }

  const forThisRoom = (ev) => { if (!ev.detail.roomId || ev.detail.roomId === getRoomId()) render(); };
  session.addEventListener('presence', forThisRoom);
  session.addEventListener('rooms', render);

  return {
    show() {
      if (overlay.matches) setOpen(false);
      render();
      members.show();
    },
  };
}
