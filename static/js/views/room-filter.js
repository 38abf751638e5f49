// The filter box at the top of the room list: rooms and direct messages
// whose name holds the typed text (any case) stay, the others are hidden,
// so the list's arrow keys (views/roving.js skips hidden items) follow it.

import { byId } from '../dom.js';

export function mountRoomFilter({ sidebar }) {
  const input = byId('room-filter');
  const status = byId('room-filter-status');

  function apply() {
    const needle = input.value.trim().toLocaleLowerCase();
    let shown = 0;
    for (const btn of sidebar.querySelectorAll('button[data-room-id]')) {
      const name = btn.querySelector('.room-name').textContent.toLocaleLowerCase();
      const match = !needle || name.includes(needle);
      const item = btn.closest('li');
      if (item.hidden === match) item.hidden = !match;
      if (match) shown += 1;
    }
    const text = !needle ? '' : shown === 0 ? 'No rooms match.' : `${shown} shown`;
    if (status.textContent !== text) status.textContent = text;
    status.hidden = text === '';
  }

  // Not a Tab stop of its own (the composer stays a few presses from the top):
  // Up from the first room reaches it, as does a click.
  input.tabIndex = -1;
  sidebar.addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowUp' || ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    const first = [...sidebar.querySelectorAll('button[data-room-id]')].find((b) => !b.closest('[hidden]'));
    if (first && document.activeElement === first) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
      input.focus();
    }
  }, true);
  input.addEventListener('input', apply);
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && input.value) {
      // Clear first; a second Escape goes on (e.g. closes the drawer).
      ev.stopPropagation();
      input.value = '';
      apply();
    } else if (ev.key === 'ArrowDown') {
      const first = [...sidebar.querySelectorAll('button[data-room-id]')].find((b) => !b.closest('[hidden]'));
      // Not also a step down the list (views/roving.js listens above).
      if (first) { ev.preventDefault(); ev.stopPropagation(); first.focus(); }
    }
  });
  return { apply };
}
