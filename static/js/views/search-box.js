// The message search in the top bar: a search box whose panel (filters by
// room and by person, then the results, views/search-results.js) opens
// while the keyboard or the mouse is in it. `/` (outside a text field) and
// Ctrl+F / Cmd+F put the keyboard in the box; Escape closes the panel and
// gives the keyboard back to where it was. The box is no Tab stop while
// closed (the composer stays a few presses from the top), like the room
// filter: the keys above reach it, and it says so (aria-keyshortcuts).

import { isDirect } from '../directory.js';
import { byId, el } from '../dom.js';
import { composeQuery, createSearch } from '../search.js';
import { mountSearchResults } from './search-results.js';
import { mountUserPicker } from './user-picker.js';

/** Input types that take typing: `/` goes to them, not to the search. */
const NOT_TYPED = new Set(['checkbox', 'radio', 'button', 'submit', 'reset', 'range', 'color', 'file']);

const isTextField = (node) => Boolean(node) && (node.isContentEditable || node.tagName === 'TEXTAREA'
  || node.tagName === 'SELECT' || (node.tagName === 'INPUT' && !NOT_TYPED.has(node.type)));

/** `onOpen(roomId, messageId)` shows the room at the message. */
export function mountSearchBox({ session, directory, onOpen }) {
  const form = byId('search-form');
  const input = byId('search-input');
  const panel = byId('search-panel');
  const roomSelect = byId('search-room');
  let returnTo = null;
  /** The rooms the select lists (ids and names), to rebuild it only when they change. */
  let listed = '';

  const results = mountSearchResults({
    list: byId('search-results'),
    status: byId('search-status'),
    error: byId('search-error'),
    moreBtn: byId('search-more'),
    onPick: pick,
    onMore: () => search.more(),
    backTo: () => input.focus(),
  });
  const search = createSearch({ api: session.api, onChange: (state) => results.render(state) });
  const person = mountUserPicker({
    input: byId('search-from'),
    search: (prefix, limit) => directory.search(prefix, limit),
    max: 1,
    onChange: () => ask(true),
  });

  /** Search what the box and the filters say (after the typing pauses, or `now`). */
  function ask(now = false) {
    const q = composeQuery(input.value, person.names()[0]);
    search.update({ q, roomId: roomSelect.value || null }, { now });
  }

  function open() {
    if (!panel.hidden) return;
    panel.hidden = false;
    input.tabIndex = 0;
    form.classList.add('open');
    if (search.state.status === 'idle') results.render(search.state);
  }

  /** Close the panel; with `restore`, the keyboard goes back to where it was. */
  function close(restore) {
    if (panel.hidden) return;
    panel.hidden = true;
    input.tabIndex = -1;
    form.classList.remove('open');
    if (!restore) return;
    const composer = byId('composer-input');
    const back = returnTo && returnTo.isConnected && !form.contains(returnTo) ? returnTo
      : composer.offsetParent ? composer : null;
    if (back) back.focus();
    else input.blur();
  }

  function pick(result) {
    // An admin finds private rooms they are not in: those are not in the room list, so no view can show them.
    if (!session.rooms.has(result.room.id)) {
      results.say(`“${result.room.name}” is not in your room list, so it cannot be opened here.`);
      return;
    }
    close(false);
    onOpen(result.room.id, result.message.id);
  }

  /** The rooms the user sees, to keep the search to one; the choice stays while its room does. */
  function fillRooms() {
    const chosen = roomSelect.value;
    const rooms = session.roomList().map((rs) => rs.room);
    const names = JSON.stringify(rooms.map((r) => [r.id, r.name]));
    if (names === listed) return;
    listed = names;
    const byName = (a, b) => a.name.localeCompare(b.name);
    const options = (list) => list.sort(byName).map((r) => el('option', { value: r.id, text: r.name }));
    const named = rooms.filter((r) => !isDirect(r));
    const direct = rooms.filter(isDirect);
    roomSelect.replaceChildren(
      el('option', { value: '', text: 'All rooms' }),
      named.length ? el('optgroup', { label: 'Rooms' }, options(named)) : null,
      direct.length ? el('optgroup', { label: 'Direct messages' }, options(direct)) : null,
    );
    roomSelect.value = rooms.some((r) => r.id === chosen) ? chosen : '';
    if (roomSelect.value !== chosen) ask(true);
  }

  function focusBox() {
    input.focus();
    input.select();
  }

  input.tabIndex = -1;
  input.addEventListener('input', () => { open(); ask(); });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown' && !ev.altKey && results.focusFirst()) ev.preventDefault();
  });
  roomSelect.addEventListener('change', () => ask(true));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    ask(true);
  });
  form.addEventListener('focusin', (ev) => {
    if (!form.contains(ev.relatedTarget)) returnTo = ev.relatedTarget;
    open();
  });
  // Tab past the last result, or a click elsewhere, closes the panel (the keyboard is already elsewhere).
  form.addEventListener('focusout', (ev) => {
    if (ev.relatedTarget && !form.contains(ev.relatedTarget)) close(false);
  });
  document.addEventListener('pointerdown', (ev) => { if (!form.contains(ev.target)) close(false); });
  form.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    ev.preventDefault();
    ev.stopPropagation();
    close(true);
  });

  document.addEventListener('keydown', (ev) => {
    if (byId('app-view').hidden || ev.altKey || document.querySelector('dialog[open]')) return;
    const findKey = (ev.ctrlKey || ev.metaKey) && !ev.shiftKey && ev.key.toLowerCase() === 'f';
    const slash = ev.key === '/' && !ev.ctrlKey && !ev.metaKey && !isTextField(document.activeElement);
    if (!findKey && !slash) return;
    ev.preventDefault();
    focusBox();
  });

  session.addEventListener('rooms', fillRooms);
  fillRooms();
  return { focus: focusBox, close };
}
