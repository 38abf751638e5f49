// The member list of a private or direct room, in the people panel: who is
// in it, online or not, and for a private room's owner or an admin, adding
// people with the username picker and removing them.
//
// The server tells the other members nothing when someone is added or
// removed, so the list is read again (GET /api/rooms/{id}/members) when the
// room is opened, after our own changes, and when the room's presence
// changes in a way the list does not explain: someone not on it came
// online (just added), or someone went offline (perhaps removed).

import { isDirect } from '../directory.js';
import { byId, el } from '../dom.js';
import { describeError } from '../errors.js';
import { avatar } from '../render.js';
import { presenceKnown } from './offline-presence.js';
import { mountUserPicker } from './user-picker.js';

/** Presence changes come in bursts (a reconnect): read the list once they settle. */
const REFRESH_DELAY_MS = 300;
/** People added in one go. */
const MAX_ADD = 8;

const nameOrder = (a, b) => a.username.localeCompare(b.username, undefined, { sensitivity: 'base' });

/** "a", "a and b", "a, b and c". */
function listNames(names, last = 'and') {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} ${last} ${names[names.length - 1]}`;
}

export function mountMembers({ session, directory, getRoomId }) {
  const section = byId('members');
  const count = byId('members-count');
  const list = byId('member-list');
  const error = byId('members-error');
  const admin = byId('members-admin');
  const form = byId('member-form');
  const status = byId('member-status');
  const addBtn = form.querySelector('button[type=submit]');

  /** The list on screen: the room it is of, and its members once read. */
  let shown = { roomId: null, members: null };
  /** Bumped per read, so an answer about another room or an older state is dropped. */
  let gen = 0;
  let timer = null;
  /** Who was online at the last render, to tell what a presence change did. */
  let online = new Set();
  let adding = false;

  const picker = mountUserPicker({
    input: byId('member-name'),
    search: (prefix, limit) => directory.search(prefix, limit),
    max: MAX_ADD,
    // Nobody already in the room is offered.
    exclude: () => new Set([session.me.username, ...(shown.members || []).map((m) => m.username)]
      .map((n) => n.toLowerCase())),
    onChange: () => { status.textContent = ''; },
  });

  const current = () => session.rooms.get(getRoomId()) || null;
  /** Private and direct rooms have a member list (a direct room is private too). */
  const hasMembers = (rs) => Boolean(rs) && Boolean(rs.room.private);
  /** Only a private room's owner or an admin adds and removes; a direct room's people are fixed. */
  const canManage = (rs) => hasMembers(rs) && !isDirect(rs.room) && session.canManageRoom(rs.room.id);

  async function refresh() {
    clearTimeout(timer);
    const rs = current();
    if (!hasMembers(rs)) return;
    const roomId = rs.room.id;
    const mine = ++gen;
    list.setAttribute('aria-busy', 'true');
    try {
      const members = await directory.members(roomId);
      if (mine !== gen || getRoomId() !== roomId) return;
      shown = { roomId, members: (Array.isArray(members) ? members : []).slice().sort(nameOrder) };
      error.textContent = '';
      render();
    } catch (err) {
      // Not found: the room went away, and the room list says so itself.
      if (mine === gen && err.status !== 404) error.textContent = `Could not read the member list. ${describeError(err)}`;
    } finally {
      if (mine === gen) list.setAttribute('aria-busy', 'false');
    }
  }

  function refreshSoon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, REFRESH_DELAY_MS);
  }

  function render() {
    const rs = current();
    section.hidden = !hasMembers(rs);
    admin.hidden = !canManage(rs);
    if (!hasMembers(rs)) return;
    online = new Set(rs.users);
    if (shown.roomId !== rs.room.id || !shown.members) {
      count.textContent = '';
      list.replaceChildren(el('li', { className: 'muted', text: 'Loading members…' }));
      return;
    }
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.username : null;
    count.textContent = `(${shown.members.length})`;
    const manage = canManage(rs);
    list.replaceChildren(...shown.members.map((m) => memberItem(m, rs, manage)));
    if (focused) {
      const again = list.querySelector(`button[data-username="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  function memberItem(member, rs, manage) {
    const me = member.id === session.me.id;
    const isOnline = presenceKnown(session) && rs.users.has(member.username);
    const owner = member.role === 'owner';
    return el('li', { className: isOnline ? 'person' : 'person offline' },
      avatar(member.username),
      el('span', { className: 'person-name', text: member.username },
        el('span', { className: 'visually-hidden', text: isOnline ? ', online' : ', offline' })),
      me ? el('span', { className: 'tag', text: 'you' }) : null,
      owner ? el('span', { className: 'tag', text: 'owner' }) : null,
      manage && !me && !owner ? el('button', {
        type: 'button',
        className: 'btn tiny ghost',
        text: 'Remove',
        dataset: { username: member.username },
        attrs: { 'aria-label': `Remove ${member.username} from this room` },
        on: { click: () => remove(member.username) },
      }) : null);
  }

  async function remove(username) {
    const roomId = getRoomId();
    if (!roomId) return;
    status.textContent = '';
    try {
      await session.removeMember(roomId, username);
      status.textContent = `${username} was removed from this room.`;
      picker.focus(); // the button is about to go
    } catch (err) {
      status.textContent = err.code === 'not_found' ? `${username} is not a member.` : describeError(err);
    }
    refresh();
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const roomId = getRoomId();
    if (adding || !roomId) return;
    const names = picker.names();
    if (!names.length) {
      status.textContent = 'Type a username first.';
      picker.focus();
      return;
    }
    adding = true;
    addBtn.disabled = true;
    status.textContent = '';
    const added = [];
    const missing = [];
    let problem = '';
    for (const name of names) {
      try {
        await session.addMember(roomId, name);
        added.push(name);
      } catch (err) {
        if (err.code !== 'not_found') {
          problem = describeError(err);
          break;
        }
        missing.push(name);
      }
    }
    adding = false;
    addBtn.disabled = false;
    const parts = [];
    if (added.length) parts.push(`${listNames(added)} can now see this room.`);
    if (missing.length) parts.push(`There is no user called ${listNames(missing, 'or')}.`);
    if (problem) parts.push(problem);
    status.textContent = parts.join(' ');
    // Whatever failed stays in the field to be fixed.
    if (!missing.length && !problem) picker.clear();
    if (added.length) refresh();
  });

  // roomUpdated: the room changed, or someone was added to it or removed.
  session.addEventListener('roomchange', (ev) => {
    const rs = current();
    if (hasMembers(rs) && ev.detail.roomId === rs.room.id) refreshSoon();
  });

  session.addEventListener('presence', (ev) => {
    const rs = current();
    if (!hasMembers(rs) || ev.detail.roomId !== rs.room.id) return;
    const known = new Set((shown.roomId === rs.room.id && shown.members ? shown.members : []).map((m) => m.username));
    const came = [...rs.users].some((u) => !online.has(u) && !known.has(u));
    const went = [...online].some((u) => !rs.users.has(u));
    render();
    if (came || went) refreshSoon();
  });

  return {
    /** The panel now shows `getRoomId()`: start from an empty form and read its list. */
    show() {
      status.textContent = '';
      picker.clear();
      const rs = current();
      if (!rs || shown.roomId !== rs.room.id) shown = { roomId: rs ? rs.room.id : null, members: null };
      render();
      refresh();
    },
    render,
  };
}
