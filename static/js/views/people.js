// Who is online in the open room, and, for the owner of a private room,
// adding and removing members.

import { byId, el } from '../dom.js';
import { describeError } from '../errors.js';
import { avatar } from '../render.js';

/** Wide screens show the panel beside the log; narrower ones as an overlay. */
const OVERLAY_QUERY = '(max-width: 1100px)';

export function mountPeople({ session, getRoomId }) {
  const panel = byId('people');
  const toggle = byId('people-toggle');
  const closeBtn = byId('people-close');
  const count = byId('people-count');
  const onlineCount = byId('online-count');
  const list = byId('online-list');
  const admin = byId('members-admin');
  const form = byId('member-form');
  const nameInput = byId('member-name');
  const status = byId('member-status');
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

  const isOwner = (rs) => rs.room.private && rs.room.ownerId === session.me.id;

  function render() {
    const rs = session.rooms.get(getRoomId());
    if (!rs) return;
    const users = [...rs.users].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }));
    count.textContent = String(rs.online);
    onlineCount.textContent = `(${rs.online})`;
    const owner = isOwner(rs);
    list.replaceChildren(...users.map((name) => {
      const me = name === session.me.username;
      return el('li', { className: 'person' },
        avatar(name),
        el('span', { className: 'person-name', text: name }),
        me ? el('span', { className: 'tag', text: 'you' }) : null,
        owner && !me ? el('button', {
          type: 'button',
          className: 'btn tiny ghost',
          text: 'Remove',
          attrs: { 'aria-label': `Remove ${name} from this room` },
          on: { click: () => change('remove', name) },
        }) : null);
    }));
    if (users.length === 0) list.append(el('li', { className: 'muted', text: rs.joined ? 'Nobody here.' : 'Connecting…' }));
    admin.hidden = !owner;
  }

  async function change(action, username) {
    const roomId = getRoomId();
    if (!roomId || !username) return;
    status.textContent = '';
    try {
      if (action === 'add') {
        await session.addMember(roomId, username);
        status.textContent = `${username} can now see this room.`;
      } else {
        await session.removeMember(roomId, username);
        status.textContent = `${username} was removed from this room.`;
      }
      nameInput.value = '';
    } catch (err) {
      status.textContent = err.code === 'not_found'
        ? (action === 'add' ? `There is no user called ${username}.` : `${username} is not a member.`)
        : describeError(err);
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const username = nameInput.value.trim();
    if (!username) {
      status.textContent = 'Type a username first.';
      nameInput.focus();
      return;
    }
    change(ev.submitter && ev.submitter.value === 'remove' ? 'remove' : 'add', username);
  });

  const forThisRoom = (ev) => { if (!ev.detail.roomId || ev.detail.roomId === getRoomId()) render(); };
  session.addEventListener('presence', forThisRoom);
  session.addEventListener('rooms', render);

  return {
    show() {
      status.textContent = '';
      nameInput.value = '';
      if (overlay.matches) setOpen(false);
      render();
    },
  };
}
