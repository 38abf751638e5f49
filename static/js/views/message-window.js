// The rows of the open room's log, kept to a window around what is on
// screen. A room may hold thousands of loaded messages; the page holds at
// most MAX_ROWS of their rows, so switching rooms and scrolling cost the
// same whatever was loaded. The messages outside the window are stood in
// for by two spacers (one above the log, one below) as tall as their rows
// were when last shown, or as an average row when never shown: the
// scrollbar keeps its size and the reader's place does not move. Rows are
// built as they come into reach and dropped once far away. The messages
// themselves stay in the session (room-state.js): an edit, a deletion or
// a reaction of a message off the page changes what its row shows when it
// is built again.

import { el } from '../dom.js';

/** The page holds at most this many message rows (a room smaller than that keeps all of them)... */
const MAX_ROWS = 200;
/**
 * ...and a bigger room at most this many: every frame that changes rows
 * repaints and commits the rows on the page, so fewer rows keep each frame
 * short. They cover the view and REACH on either side with room to spare.
 */
const WINDOW_ROWS = 100;
/** How many rows a room of `n` messages may have on the page. */
const capOf = (n) => (n <= MAX_ROWS ? MAX_ROWS : WINDOW_ROWS);
/** ...and a room opens with its newest rows, at least this many. */
const FIRST_ROWS = 60;
/** Rows are kept built this far above and below the visible part, in heights of the visible part. */
const REACH = 1;
/** The height assumed for a row before any of the room's rows were measured. */
const DEFAULT_ROW_PX = 56;
/** Scrolling builds at most this many rows a frame beyond those in view; the rest come next frame. */
const BUILD_PER_FRAME = 8;
/** A room opened at its first unread message shows this many rows before it. */
const BEFORE_UNREAD = 10;

/** The heights one room's rows measured (id -> px, margins included); their average stands for the others. */
class Heights {
  constructor() {
    this.map = new Map();
    this.total = 0;
  }

  get estimate() {
    return this.map.size ? this.total / this.map.size : DEFAULT_ROW_PX;
  }

  of(id) {
    const h = this.map.get(id);
    return h === undefined ? this.estimate : h;
  }

  set(id, h) {
    this.total += h - (this.map.get(id) ?? 0);
    this.map.set(id, h);
  }

  delete(id) {
    const h = this.map.get(id);
    if (h === undefined) return;
    this.total -= h;
    this.map.delete(id);
  }

  clear() {
    this.map.clear();
    this.total = 0;
  }
}

/**
 * `getMessages()` is the open room's loaded history (oldest first),
 * `buildRow(msg)` builds a message's row and `decorate(row, msg, prev)`
 * sets its grouping against the message before it. `onRows()` runs once
 * rows were built or dropped (before they are measured), `onDrop(row)`
 * before a row leaves the page.
 */
export function mountMessageWindow({ scroller, log, getMessages, buildRow, decorate, onRows, onDrop }) {
  const topSpacer = el('div', { className: 'log-spacer', attrs: { 'aria-hidden': 'true' } });
  const bottomSpacer = el('div', { className: 'log-spacer', attrs: { 'aria-hidden': 'true' } });
  log.before(topSpacer);
  log.after(bottomSpacer);

  /** id -> row of the messages on the page. */
  let nodes = new Map();
  /** The window: `count` messages from the one with id `firstId` (found near index `hint`). */
  let firstId = null;
  let count = 0;
  let hint = 0;
  /** roomKey -> the Heights of its rows. */
  const rooms = new Map();
  let sizes = new Heights();
  /** Rows built or changed since they were last measured. */
  let unmeasured = new Set();
  let lastWidth = scroller.clientWidth;

  const heightOf = (m) => sizes.of(m.id);

  /** [start, end) of the window in getMessages(). */
  function span() {
    if (!count) return [0, 0];
    const msgs = getMessages();
    let s = msgs[hint] && msgs[hint].id === firstId ? hint : msgs.findIndex((m) => m.id === firstId);
    if (s < 0) s = 0;
    hint = s;
    return [s, Math.min(s + count, msgs.length)];
  }

  /** Rows from inserting many at once are history, not news: screen readers wait for the log to settle. */
  function quietly(fn) {
    log.setAttribute('aria-busy', 'true');
    fn();
    requestAnimationFrame(() => log.removeAttribute('aria-busy'));
  }

  function build(msgs, s, e) {
    const rows = [];
    for (let i = s; i < e; i++) {
      const row = buildRow(msgs[i]);
      decorate(row, msgs[i], i > 0 ? msgs[i - 1] : null);
      nodes.set(msgs[i].id, row);
      unmeasured.add(msgs[i].id);
      rows.push(row);
    }
    return rows;
  }

  function dropRow(id) {
    const row = nodes.get(id);
    if (!row) return;
    // The keyboard would be lost with the row: keep it in the log.
    if (row.contains(document.activeElement)) scroller.focus({ preventScroll: true });
    onDrop(row);
    row.remove();
    nodes.delete(id);
    unmeasured.delete(id);
  }

  /**
   * Measure the rows built or changed since last time: what their messages
   * take once off the page. Cheap while the layout is clean (at the start
   * of a frame): scrolling measures the rows built in the frame before.
   */
  function measure() {
    if (!scroller.clientHeight || !unmeasured.size) return;
    for (const id of unmeasured) {
      const row = nodes.get(id);
      if (row) sizes.set(id, row.getBoundingClientRect().height + (parseFloat(getComputedStyle(row).marginTop) || 0));
    }
    unmeasured = new Set();
  }

  function setSpacers() {
    const msgs = getMessages();
    const [s, e] = span();
    let above = 0;
    let below = 0;
    for (let i = 0; i < s; i++) above += heightOf(msgs[i]);
    for (let i = e; i < msgs.length; i++) below += heightOf(msgs[i]);
    topSpacer.style.height = `${above}px`;
    bottomSpacer.style.height = `${below}px`;
  }

  /**
   * The first row on the page that reaches into view, and where it is.
   * With `skipId` (a message just deleted: the window and the history
   * disagree about it) the rows are walked one by one, skipping it.
   */
  function anchorRow(skipId = null) {
    const { top: viewTop, bottom: viewBottom } = scroller.getBoundingClientRect();
    if (skipId !== null) {
      for (const row of log.children) {
        const id = row.dataset.id;
        if (!id || id === skipId || nodes.get(id) !== row) continue;
        const r = row.getBoundingClientRect();
        if (r.bottom > viewTop) return r.top < viewBottom ? { id, offset: r.top - viewTop } : null;
      }
      return null;
    }
    const msgs = getMessages();
    const [cs, ce] = span();
    // Rows are in order: look for the first one ending below the top of the view by halves.
    let lo = cs;
    let hi = ce;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (nodes.get(msgs[mid].id).getBoundingClientRect().bottom > viewTop) hi = mid;
      else lo = mid + 1;
    }
    if (lo >= ce) return null;
    const r = nodes.get(msgs[lo].id).getBoundingClientRect();
    return r.top < viewBottom ? { id: msgs[lo].id, offset: r.top - viewTop } : null;
  }

  /** Scroll so that the anchor's row is where it was ('bottom': to the end). */
  function restore(anchor) {
    if (anchor === 'bottom') {
      scroller.scrollTop = scroller.scrollHeight;
      return;
    }
    const row = anchor && nodes.get(anchor.id);
    if (!row) return;
    const now = row.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
    if (Math.abs(now - anchor.offset) >= 0.5) scroller.scrollTop += now - anchor.offset;
  }

  /**
   * After rows changed: the spacers first (they stand for rows off the
   * page, whose heights are known), then one layout to measure and to put
   * the anchor back; none when `needsLayout` is false (nothing above the
   * anchor changed height: the new rows are measured next frame).
   */
  function settle(anchor, needsLayout = true) {
    onRows();
    setSpacers();
    if (!needsLayout) return;
    measure();
    restore(anchor);
  }

  /** Put exactly the messages [s, e) on the page, then keep `anchor` in place. */
  function render(s, e, anchor) {
    const msgs = getMessages();
    const [cs, ce] = span();
    const rebuild = !count || e <= cs || s >= ce;
    // Rows above the anchor whose height is only guessed: the anchor has to be put back.
    let guessed = rebuild || s < cs;
    for (let i = cs; i < s && !guessed; i++) guessed = unmeasured.has(msgs[i].id);
    quietly(() => {
      if (rebuild) {
        for (const id of [...nodes.keys()]) dropRow(id);
        nodes = new Map();
        log.replaceChildren(...build(msgs, s, e));
      } else {
        for (let i = cs; i < s; i++) dropRow(msgs[i].id);
        for (let i = e; i < ce; i++) dropRow(msgs[i].id);
        if (s < cs) nodes.get(msgs[cs].id).before(...build(msgs, s, cs));
        if (e > ce) nodes.get(msgs[ce - 1].id).after(...build(msgs, ce, e));
      }
    });
    count = e - s;
    firstId = count ? msgs[s].id : null;
    hint = s;
    settle(anchor, typeof anchor !== 'object' || anchor === null || guessed);
  }

  /** The first message at most `px` above the end of the history. */
  function tailStart(msgs, px) {
    let s = msgs.length;
    let acc = 0;
    while (s > 0 && (acc < px || msgs.length - s < FIRST_ROWS)) acc += heightOf(msgs[--s]);
    return s;
  }

  /**
   * Build what comes into reach and drop what went far, after a scroll or
   * a resize. With `spread`, what is not yet in view is built a few rows a
   * frame, so that no frame takes long.
   */
  function update(spread = false) {
    const msgs = getMessages();
    const n = msgs.length;
    const view = scroller.clientHeight;
    if (!n || !view) return;
    measure();
    const reach = view * REACH;
    const box = scroller.getBoundingClientRect();
    const [cs, ce] = span();
    if (count) {
      const first = nodes.get(msgs[cs].id).getBoundingClientRect();
      const last = nodes.get(msgs[ce - 1].id).getBoundingClientRect();
      const coversTop = cs === 0 || first.top <= box.top - reach / 2;
      const coversBottom = ce === n || last.bottom >= box.bottom + reach / 2;
      if (coversTop && coversBottom && (n > MAX_ROWS || ce - cs === n)) return;
    }
    // Where the view is in the whole history, in the heights the spacers use.
    const y = box.top - topSpacer.getBoundingClientRect().top;
    let a = -1;
    let b = n;
    let at = null;
    let inView = n;
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const h = heightOf(msgs[i]);
      if (a < 0 && acc + h > y - reach) a = i;
      if (!at && acc + h > y) at = { id: msgs[i].id, offset: acc - y, i };
      if (inView === n && acc >= y + view) inView = i;
      if (acc >= y + view + reach) { b = i; break; }
      acc += h;
    }
    if (a < 0) a = Math.max(0, n - 1);
    b = Math.max(b, a + 1);
    let s = a;
    let e = b;
    // A room that fits keeps all its rows, as before the window.
    if (n <= MAX_ROWS) [s, e] = [0, n];
    else if (count) {
      const us = Math.min(a, cs);
      const ue = Math.max(b, ce);
      if (ue - us <= WINDOW_ROWS) [s, e] = [us, ue];
      else if (a < cs) [s, e] = [a, Math.max(b, Math.min(ue, a + WINDOW_ROWS))];
      else [s, e] = [Math.min(a, Math.max(us, b - WINDOW_ROWS)), b];
    }
    if (spread && n > MAX_ROWS && count && e > cs && s < ce) {
      // Rows in view now; those only in reach a few at a time (a small room has all its rows at once).
      const first = at ? at.i : a;
      const [ss, ee] = [Math.min(first, Math.max(s, cs - BUILD_PER_FRAME)), Math.max(inView, Math.min(e, ce + BUILD_PER_FRAME))];
      if (ss !== s || ee !== e) schedule();
      [s, e] = [ss, ee];
    }
    if (s === cs && e === ce) return;
    render(s, e, anchorRow() || at);
  }

  let scheduled = false;
  /** update() once in the next frame, before it is painted, however many times asked. */
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      update(true);
    });
  }
  scroller.addEventListener('scroll', schedule, { passive: true });

  new ResizeObserver(() => {
    // Another width wraps text differently: every height measured before is wrong.
    if (scroller.clientWidth !== lastWidth && scroller.clientWidth) {
      lastWidth = scroller.clientWidth;
      for (const r of rooms.values()) r.clear();
      unmeasured = new Set(nodes.keys());
      settle(anchorRow());
    }
    update();
  }).observe(scroller);

  return {
    /** The row of message `id`, when it is on the page. */
    rowOf: (id) => nodes.get(id) || null,

    /**
     * Show the room `roomKey` afresh: its newest rows, or from a little
     * before message `fromId` (its first unread message) when that is further up.
     */
    reset(roomKey, fromId = null) {
      if (!rooms.has(roomKey)) rooms.set(roomKey, new Heights());
      sizes = rooms.get(roomKey);
      nodes = new Map();
      unmeasured = new Set();
      count = 0;
      const msgs = getMessages();
      let s = tailStart(msgs, scroller.clientHeight * (1 + REACH));
      let e = msgs.length;
      const u = fromId ? msgs.findIndex((m) => m.id === fromId) : -1;
      if (u >= 0 && u - BEFORE_UNREAD < s) {
        s = Math.max(0, u - BEFORE_UNREAD);
        if (e - s > capOf(msgs.length)) e = Math.min(e, s + FIRST_ROWS);
      }
      log.replaceChildren();
      render(s, e, null);
    },

    /** Live messages were added at the end; `follow` when the reader follows the newest one. */
    appended(messages, follow) {
      const msgs = getMessages();
      const [cs, ce] = span();
      const fresh = messages.filter((m) => !nodes.has(m.id)).length;
      if (!fresh) return;
      const atEnd = !count || ce >= msgs.length - fresh;
      let s = count ? cs : Math.max(0, msgs.length - fresh);
      const cap = capOf(msgs.length);
      if (atEnd && msgs.length - s > cap) {
        if (!follow) { setSpacers(); return; }
        s = msgs.length - cap;
      }
      if (atEnd) render(s, msgs.length, follow ? 'bottom' : anchorRow());
      else setSpacers();
    },

    /** Older messages were added at the start: the view stays on what the reader was reading. */
    prepended() {
      const msgs = getMessages();
      const anchor = anchorRow();
      const [cs] = span();
      // The former first message may now continue a group or share a day.
      const row = count ? nodes.get(msgs[cs].id) : null;
      if (row) {
        decorate(row, msgs[cs], cs > 0 ? msgs[cs - 1] : null);
        unmeasured.add(msgs[cs].id);
      }
      settle(anchor);
      update();
    },

    /** Message `id` was deleted (it is no longer in getMessages()). */
    removed(id) {
      const anchor = anchorRow(id);
      const row = nodes.get(id);
      sizes.delete(id);
      let next = null;
      if (row) {
        next = row.nextElementSibling;
        while (next && !(next.dataset.id && nodes.get(next.dataset.id) === next)) next = next.nextElementSibling;
        if (firstId === id) firstId = next ? next.dataset.id : null;
        count -= 1;
        if (!count) firstId = null;
        dropRow(id);
      }
      // The first row and the one that followed the removed one may start or continue a group now.
      const msgs = getMessages();
      const regroup = (r) => {
        const i = r ? msgs.findIndex((m) => m.id === r.dataset.id) : -1;
        if (i < 0) return;
        decorate(r, msgs[i], i > 0 ? msgs[i - 1] : null);
        unmeasured.add(msgs[i].id);
      };
      if (count) regroup(nodes.get(msgs[span()[0]].id));
      regroup(next);
      settle(anchor);
      update();
    },

    /** Message `id` changed (edited, reacted to): its height may have too. */
    changed(id) {
      if (nodes.has(id)) unmeasured.add(id);
      else sizes.delete(id);
      settle(anchorRow());
    },

    /** Make sure the newest messages are on the page (before scrolling to the end). */
    toBottom() {
      const msgs = getMessages();
      const [cs, ce] = span();
      if (count && ce === msgs.length) return;
      let s = tailStart(msgs, scroller.clientHeight * (1 + REACH));
      if (count && ce >= s && msgs.length - cs <= capOf(msgs.length)) s = cs;
      render(s, msgs.length, 'bottom');
    },

    /** How many message rows are on the page. */
    get size() { return count; },
  };
}
