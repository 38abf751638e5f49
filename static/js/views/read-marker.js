// What the reader has seen of the open room. A room opened with unread
// messages shows a "New messages" divider above the first of them (the
// first message of someone else after the read mark) and scrolls there
// rather than to the bottom; the divider stays until another room is
// opened. The read mark follows the newest message fully on screen, and
// only while the page is visible and focused: a message that arrives in
// a background tab stays unread.

import { el } from '../dom.js';

/** The divider sits this far below the top of the log when the room opens. */
const DIVIDER_MARGIN_PX = 12;

/** `rowOf(id)` is the row of message `id` in the open room (or null). */
export function mountReadMarker({ session, scroller, getRoomId, rowOf }) {
  /** The mark when the room was opened with unread messages (the divider goes after it), else null. */
  let openedMark = null;
  /** The id of the message whose row holds the divider. */
  let dividerAt = null;
  /** Scroll to the divider once the history is on screen. */
  let scrollPending = false;
  let frame = 0;

  const current = () => session.rooms.get(getRoomId()) || null;

  /** Room `rs` was just opened: remember where its unread messages start. */
  function opened(rs) {
    openedMark = rs && rs.unread > 0 ? rs.read.lastReadId : null;
    scrollPending = openedMark !== null;
    dividerAt = null;
  }

  /** The first unread message we hold (older ones may still be to load). */
  function firstUnread(rs) {
    if (openedMark === null) return null;
    return rs.messages.find((m) => m.id > openedMark && m.userId !== session.me.id) || null;
  }

  /** Put the divider on the row of the first unread message (after a render, older messages or a deletion). */
  function place() {
    const rs = current();
    const first = rs ? firstUnread(rs) : null;
    const row = first ? rowOf(first.id) : null;
    const old = scroller.querySelector('.unread-divider');
    if (row && old && old.parentElement === row) return;
    if (old) old.remove();
    dividerAt = row ? first.id : null;
    if (!row) return;
    const divider = el('div', { className: 'unread-divider', attrs: { role: 'separator', 'aria-label': 'New messages' } },
      el('span', { text: 'New messages', attrs: { 'aria-hidden': 'true' } }));
    // Below the day's divider, if the row has one.
    const day = row.querySelector(':scope > .day-divider');
    if (day) day.after(divider);
    else row.prepend(divider);
  }

  /** Scroll the divider near the top once, after opening; false when there is none (yet). */
  function scrollToDivider() {
    const row = scrollPending && dividerAt ? rowOf(dividerAt) : null;
    if (!row) return false;
    scrollPending = false;
    const top = row.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
    scroller.scrollTop += top - DIVIDER_MARGIN_PX;
    return true;
  }

  /** The newest message whose row ends on screen, or null. */
  function newestVisible(rs) {
    const view = scroller.getBoundingClientRect();
    for (let i = rs.messages.length - 1; i >= 0; i--) {
      const row = rowOf(rs.messages[i].id);
      if (!row) continue;
      const r = row.getBoundingClientRect();
      if (r.top >= view.bottom) continue; // below the fold
      if (r.bottom <= view.top) return null; // this one and every older one are above it
      if (r.bottom <= view.bottom + 1) return rs.messages[i];
    }
    return null;
  }

  /** Move the read mark to the newest message on screen, if someone is looking. */
  function check() {
    const rs = current();
    if (!rs || !rs.loaded || document.visibilityState !== 'visible' || !document.hasFocus()) return;
    const newest = newestVisible(rs);
    if (newest) session.markRead(rs.room.id, newest.id);
  }

  /** check() on the next frame, once however many scroll events come. */
  function checkSoon() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      check();
    });
  }

  scroller.addEventListener('scroll', checkSoon, { passive: true });
  document.addEventListener('visibilitychange', () => {
    // Leaving the page (or the tab): what was read must not wait out the interval.
    if (document.visibilityState === 'hidden') session.flushMarks({ now: true });
    else checkSoon();
  });
  window.addEventListener('focus', checkSoon);
  window.addEventListener('resize', checkSoon);

  /** The first unread message while the room still has to scroll there (the rows built around it), else null. */
  function firstUnreadId() {
    const rs = current();
    const first = scrollPending && rs ? firstUnread(rs) : null;
    return first ? first.id : null;
  }

  return { opened, place, scrollToDivider, check, checkSoon, firstUnreadId };
}
