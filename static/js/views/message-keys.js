// The message log from the keyboard, as in the chats people know: the log
// is one Tab stop, a message (the one focused last, else the newest);
// Up / Down move between messages, Home / End to the first / last on the
// page. A focused message shows its actions: Enter goes into them (then
// Tab moves among the message's links, actions and reactions, Left / Right
// along the actions, Escape back to the message), and single keys act at
// once: E edits, R reacts, Delete deletes. The buttons and links of a
// message are out of the Tab order until the keyboard is on one of them,
// so a page of messages costs one Tab press, not hundreds. Rows come and
// go with the window (message-window.js): each new one is set up as it
// arrives, and a message redrawn under the keyboard gets it back.

import { moveAmong } from './roving.js';

const ROW = '.msg[data-id]';
/** What a message holds that takes the keyboard; the editor and the reaction chooser are left alone. */
const CONTROLS = 'a[href], button';
const OWN_WIDGETS = '.msg-editor, .reaction-chooser';
/** The single keys a focused message answers to, and the action button each presses. */
const SHORTCUTS = { e: 'edit', r: 'react', Delete: 'delete' };

/** `log` holds the rows, `scroller` scrolls it (the keyboard's place when its row is gone). */
export function mountMessageKeys({ log, scroller }) {
  /** The message that is the Tab stop: the one the keyboard was on last. */
  let activeId = null;
  /** The row whose buttons and links are in the Tab order (it has the keyboard). */
  let openRow = null;
  /** The row that is the Tab stop now. */
  let stopRow = null;
  /** What in the log has the keyboard (kept while the keyboard stays in the log). */
  let hadFocus = null;
  /** A message whose row had the keyboard when it was rebuilt: it gets it back. */
  let lostId = null;

  /** The next row from `row` (null: from the edge) going `step` (1 or -1). */
  function sibling(row, step) {
    let n = row ? (step > 0 ? row.nextElementSibling : row.previousElementSibling)
      : (step > 0 ? log.firstElementChild : log.lastElementChild);
    while (n && !n.matches(ROW)) n = step > 0 ? n.nextElementSibling : n.previousElementSibling;
    return n;
  }
  const rowById = (id) => (id ? log.querySelector(`:scope > ${ROW}[data-id="${CSS.escape(id)}"]`) : null);

  function setControls(row, on) {
    for (const c of row.querySelectorAll(CONTROLS)) {
      if (c.closest(OWN_WIDGETS)) continue;
      const index = on ? '0' : '-1';
      if (c.getAttribute('tabindex') !== index) c.setAttribute('tabindex', index);
    }
  }

  function setUp(row) {
    row.setAttribute('role', 'article');
    row.tabIndex = -1;
    setControls(row, false);
  }

  /** One row is the stop: the active message's, else the newest on the page. */
  function placeStop() {
    const want = rowById(activeId) || sibling(null, -1);
    if (want === stopRow && want && want.getAttribute('tabindex') === '0') return;
    if (stopRow && stopRow !== want && stopRow.isConnected) stopRow.tabIndex = -1;
    stopRow = want;
    if (want) want.tabIndex = 0;
  }

  new MutationObserver((records) => {
    for (const rec of records) {
      for (const n of rec.removedNodes) {
        if (n.nodeType !== 1 || !n.matches(ROW)) continue;
        if (n === openRow) openRow = null;
        if (hadFocus && n.contains(hadFocus)) lostId = n.dataset.id;
      }
      for (const n of rec.addedNodes) {
        if (n.nodeType !== 1) continue;
        if (n.matches(ROW)) setUp(n);
        else {
          const row = n.closest(ROW);
          if (row && log.contains(row)) setControls(row, row === openRow);
        }
      }
    }
    placeStop();
    // Rebuilt under the keyboard (the log redrawn after a reconnect): the keyboard comes back.
    const lost = lostId && rowById(lostId);
    if (lost && (document.activeElement === document.body || document.activeElement === scroller)) {
      lost.focus({ preventScroll: true });
    }
  }).observe(log, { childList: true, subtree: true });

  log.addEventListener('focusin', (ev) => {
    const row = ev.target.closest(ROW);
    if (!row || !log.contains(row)) return;
    hadFocus = ev.target;
    lostId = null;
    activeId = row.dataset.id;
    // The message itself keeps its buttons out of the Tab order; once the keyboard is on one, Tab moves among them.
    const inside = ev.target !== row ? row : null;
    if (openRow !== inside) {
      if (openRow) setControls(openRow, false);
      if (inside) setControls(inside, true);
      openRow = inside;
    }
    placeStop();
  });
  log.addEventListener('focusout', (ev) => {
    // No relatedTarget: the window lost the keyboard, or the row went away with it.
    if (ev.relatedTarget && !log.contains(ev.relatedTarget)) hadFocus = null;
    if (openRow && !openRow.contains(ev.relatedTarget)) {
      setControls(openRow, false);
      openRow = null;
    }
  });
  // Anything else taking the keyboard ends the wait for a rebuilt row.
  document.addEventListener('focusin', (ev) => { if (ev.target !== scroller && !log.contains(ev.target)) lostId = null; });

  log.addEventListener('keydown', (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.defaultPrevented) return;
    const row = ev.target.closest(ROW);
    if (!row || !log.contains(row) || ev.target.closest(OWN_WIDGETS)) return;
    if (ev.target === row) onRowKey(ev, row);
    else onControlKey(ev, row);
  });

  function onRowKey(ev, row) {
    const shortcut = !ev.shiftKey && SHORTCUTS[ev.key.length === 1 ? ev.key.toLowerCase() : ev.key];
    let to = null;
    if (ev.key === 'ArrowUp') to = sibling(row, -1);
    else if (ev.key === 'ArrowDown') to = sibling(row, 1);
    else if (ev.key === 'Home') to = sibling(null, 1);
    else if (ev.key === 'End') to = sibling(null, -1);
    else if (ev.key === 'Enter' && !ev.shiftKey) to = actions(row)[0];
    else if (shortcut) {
      const btn = row.querySelector(`.msg-actions button[data-action="${shortcut}"]`);
      if (!btn) return;
      ev.preventDefault();
      btn.click();
      return;
    } else return;
    ev.preventDefault();
    if (to) {
      to.focus();
    } else if (ev.key === 'ArrowUp' || ev.key === 'ArrowDown') {
      // At the edge of the page: scroll on, so the window builds (or the room loads) what comes next.
      scroller.scrollBy({ top: (ev.key === 'ArrowUp' ? -1 : 1) * scroller.clientHeight / 2 });
    }
  }

  function onControlKey(ev, row) {
    // On a reaction, Escape only hides who reacted (reactions.js); the keyboard stays.
    if (ev.key === 'Escape' && !ev.target.closest('.reaction-wrap')) {
      ev.preventDefault();
      row.focus();
      return;
    }
    moveAmong(actions(row), ev);
  }

  const actions = (row) => [...row.querySelectorAll('.msg-actions button')];
}
