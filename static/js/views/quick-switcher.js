// The quick switcher: Ctrl+K (Cmd+K on a Mac) opens a small dialog where
// typing part of a room's name lists the rooms that match, best first
// (names that start with the text, then the most recently active), the
// arrow keys choose and Enter opens. A modal <dialog> keeps the keyboard
// inside and gives it back to where it was when it closes.

import { isDirect } from '../directory.js';
import { byId, el, icon, ICONS } from '../dom.js';
import { byRecency, learnNewest } from '../room-recency.js';

/** Matches listed at most. */
const SHOWN = 8;

export function mountQuickSwitcher({ session, onSelect }) {
  const dialog = byId('switcher-dialog');
  const input = byId('switcher-input');
  const list = byId('switcher-list');
  let matches = [];
  let chosen = 0;
  let returnTo = null;

  function rank(text) {
    const needle = text.trim().toLocaleLowerCase();
    const recent = byRecency(session.roomList());
    if (!needle) return recent.slice(0, SHOWN);
    const named = (rs) => rs.room.name.toLocaleLowerCase();
    const prefix = recent.filter((rs) => named(rs).startsWith(needle));
    const inside = recent.filter((rs) => !named(rs).startsWith(needle) && named(rs).includes(needle));
    return [...prefix, ...inside].slice(0, SHOWN);
  }

  function show() {
    matches = rank(input.value);
    chosen = Math.min(chosen, Math.max(0, matches.length - 1));
    list.replaceChildren(...matches.map((rs, i) => el('li', {
      className: 'switcher-item',
      attrs: { id: `switcher-opt-${i}`, role: 'option', 'aria-selected': String(i === chosen) },
      on: { click: () => pick(i) },
    }, el('span', { className: 'switcher-kind', attrs: { 'aria-hidden': 'true' } },
      icon(isDirect(rs.room) ? ICONS.users : rs.room.private ? ICONS.lock : ICONS.hash, 14)),
    el('span', { text: rs.room.name }))));
    if (!matches.length) list.append(el('li', { className: 'muted switcher-none', text: 'No rooms match.' }));
    if (matches.length) input.setAttribute('aria-activedescendant', `switcher-opt-${chosen}`);
    else input.removeAttribute('aria-activedescendant');
    const item = list.children[chosen];
    if (item && item.scrollIntoView) item.scrollIntoView({ block: 'nearest' });
  }

  function pick(i) {
    const rs = matches[i];
    if (!rs) return;
    returnTo = null; // the room's view takes the keyboard
    dialog.close();
    onSelect(rs.room.id);
  }

  function open() {
    if (dialog.open) return;
    returnTo = document.activeElement;
    input.value = '';
    chosen = 0;
    show();
    dialog.showModal();
    input.focus();
    // Rooms not opened here yet: their newest message sets their place.
    learnNewest(session.api, session.roomList()).then(() => { if (dialog.open) show(); });
  }

  document.addEventListener('keydown', (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && !ev.shiftKey && ev.key.toLowerCase() === 'k') {
      if (byId('app-view').hidden) return;
      ev.preventDefault();
      open();
    }
  });
  input.addEventListener('input', () => { chosen = 0; show(); });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      if (!matches.length) return;
      chosen = (chosen + (ev.key === 'ArrowDown' ? 1 : -1) + matches.length) % matches.length;
      show();
    } else if (ev.key === 'Enter') {
      ev.preventDefault();
      pick(chosen);
    }
  });
  dialog.addEventListener('close', () => {
    if (returnTo && returnTo.isConnected) returnTo.focus();
    returnTo = null;
  });
  // A click on the backdrop (outside the box) closes it too.
  dialog.addEventListener('click', (ev) => { if (ev.target === dialog) dialog.close(); });
  return { open };
}
