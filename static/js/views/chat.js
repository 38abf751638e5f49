// The open room: its message log (with older history on scroll-up), the
// typing line and the composer.

import { byId } from '../dom.js';
import { describeError } from '../errors.js';
import { decorate, messageNode, updateMessageNode } from '../render.js';

/** Start fetching older messages when the reader is this close to the top. */
const LOAD_OLDER_THRESHOLD_PX = 240;
/** Within this distance of the bottom we follow new messages. */
const STICK_TO_BOTTOM_PX = 80;
/** The contract's message limit, in characters. */
const MAX_MESSAGE_CHARS = 4000;
/** The composer grows up to this many lines, then scrolls. */
const MAX_COMPOSER_ROWS = 8;

export function mountChat({ session }) {
  const empty = byId('chat-empty');
  const section = byId('chat-room');
  const title = byId('room-title');
  const desc = byId('room-desc');
  const scroller = byId('log-scroll');
  const log = byId('message-log');
  const olderBtn = byId('load-older');
  const logStart = byId('log-start');
  const jump = byId('jump-latest');
  const typing = byId('typing');
  const form = byId('composer');
  const input = byId('composer-input');
  const sendBtn = byId('send-btn');
  const error = byId('composer-error');
  const leaveBtn = byId('leave-btn');

  /** id -> row of the room on screen, for edits, deletes and regrouping. */
  let nodes = new Map();
  let roomId = null;
  let sending = false;

  const current = () => (roomId ? session.rooms.get(roomId) : null);
  const isMine = (m) => m.userId === session.me.id;
  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < STICK_TO_BOTTOM_PX;
  const scrollToBottom = () => { scroller.scrollTop = scroller.scrollHeight; jump.hidden = true; };

  /**
   * History inserted in bulk should not be read out message by message;
   * aria-busy asks screen readers to hold off until the log settles.
   */
  function bulk(fn) {
    log.setAttribute('aria-busy', 'true');
    fn();
    requestAnimationFrame(() => log.removeAttribute('aria-busy'));
  }

  function updateEdges() {
    const rs = current();
    const loaded = Boolean(rs && rs.loaded);
    olderBtn.hidden = !loaded || !rs.hasMore;
    olderBtn.disabled = Boolean(rs && rs.olderPromise);
    logStart.hidden = !loaded || rs.hasMore;
    log.classList.toggle('loading', !loaded);
  }

  function renderAll() {
    const rs = current();
    nodes = new Map();
    const rows = [];
    let prev = null;
    for (const m of rs ? rs.messages : []) {
      const n = messageNode(m, isMine(m));
      decorate(n, m, prev);
      nodes.set(m.id, n);
      rows.push(n);
      prev = m;
    }
    bulk(() => log.replaceChildren(...rows));
    updateEdges();
    scrollToBottom();
    fillViewport();
  }

  /** If the history does not fill the screen there is nothing to scroll: load more. */
  function fillViewport() {
    const rs = current();
    if (rs && rs.loaded && rs.hasMore && scroller.scrollHeight <= scroller.clientHeight + LOAD_OLDER_THRESHOLD_PX) {
      loadOlder();
    }
  }

  function append(messages) {
    const rs = current();
    const follow = nearBottom();
    let ownMessage = false;
    for (const m of messages) {
      if (nodes.has(m.id)) continue;
      const i = rs.messages.indexOf(m);
      const n = messageNode(m, isMine(m));
      decorate(n, m, i > 0 ? rs.messages[i - 1] : null);
      nodes.set(m.id, n);
      log.append(n);
      ownMessage ||= isMine(m);
    }
    if (follow || ownMessage) scrollToBottom();
    else jump.hidden = false;
  }

  function prepend(messages) {
    const rs = current();
    if (!messages.length) { updateEdges(); return; }
    // Keep the message the reader is looking at in place.
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    const rows = [];
    let prev = null;
    for (const m of messages) {
      const n = messageNode(m, isMine(m));
      decorate(n, m, prev);
      nodes.set(m.id, n);
      rows.push(n);
      prev = m;
    }
    bulk(() => log.prepend(...rows));
    // The former first message may now continue a group or share a day.
    const next = rs.messages[messages.length];
    if (next && nodes.has(next.id)) decorate(nodes.get(next.id), next, prev);
    scroller.scrollTop = scroller.scrollHeight - fromBottom;
    updateEdges();
  }

  async function loadOlder() {
    const rs = current();
    if (!rs || !rs.loaded || !rs.hasMore || rs.olderPromise) return;
    const p = session.loadOlder(rs);
    updateEdges();
    try {
      await p;
    } catch (err) {
      error.textContent = describeError(err);
    }
    updateEdges();
  }

  scroller.addEventListener('scroll', () => {
    if (scroller.scrollTop < LOAD_OLDER_THRESHOLD_PX) loadOlder();
    if (nearBottom()) jump.hidden = true;
  }, { passive: true });
  olderBtn.addEventListener('click', loadOlder);
  jump.addEventListener('click', () => { scrollToBottom(); input.focus(); });

  // ---- session events for the open room ---------------------------------

  const forThisRoom = (fn) => (ev) => { if (ev.detail.roomId === roomId) fn(ev.detail); };
  session.addEventListener('reset', forThisRoom(renderAll));
  session.addEventListener('appended', forThisRoom(({ messages }) => append(messages)));
  session.addEventListener('prepended', forThisRoom(({ messages }) => { prepend(messages); fillViewport(); }));
  session.addEventListener('updated', forThisRoom(({ message }) => {
    const n = nodes.get(message.id);
    if (n) updateMessageNode(n, message);
  }));
  session.addEventListener('removed', forThisRoom(({ id }) => {
    const n = nodes.get(id);
    if (!n) return;
    const next = n.nextElementSibling;
    n.remove();
    nodes.delete(id);
    // Re-group the message that followed the removed one.
    const rs = current();
    const nextMsg = next && rs.messages.find((m) => m.id === next.dataset.id);
    if (nextMsg) {
      const i = rs.messages.indexOf(nextMsg);
      decorate(next, nextMsg, i > 0 ? rs.messages[i - 1] : null);
    }
  }));
  session.addEventListener('typing', forThisRoom(renderTyping));

  function renderTyping() {
    const users = roomId ? session.typers(roomId) : [];
    typing.textContent = users.length === 0 ? ''
      : users.length === 1 ? `${users[0]} is typing…`
        : users.length === 2 ? `${users[0]} and ${users[1]} are typing…`
          : `${users.length} people are typing…`;
  }

  // ---- composer ---------------------------------------------------------

  function autosize() {
    // CSS field-sizing does this where supported; rows is the fallback.
    const lines = input.value.split('\n').length;
    input.rows = Math.min(MAX_COMPOSER_ROWS, Math.max(1, lines));
  }

  async function send() {
    const text = input.value;
    if (sending || !roomId) return;
    if (!text.trim()) return;
    if ([...text].length > MAX_MESSAGE_CHARS) {
      error.textContent = `Messages are at most ${MAX_MESSAGE_CHARS} characters.`;
      return;
    }
    sending = true;
    sendBtn.disabled = true;
    input.setAttribute('aria-busy', 'true');
    error.textContent = '';
    try {
      // The message shows up when the server echoes it (receiveMessage);
      // the ack only tells us it was stored, so the text can be cleared.
      await session.send(roomId, text);
      if (input.value === text) input.value = '';
      autosize();
    } catch (err) {
      error.textContent = describeError(err);
    } finally {
      sending = false;
      sendBtn.disabled = false;
      input.removeAttribute('aria-busy');
    }
  }

  form.addEventListener('submit', (ev) => { ev.preventDefault(); send(); });
  input.addEventListener('keydown', (ev) => {
    // Enter sends; Shift+Enter (or composing an IME word) inserts a newline.
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      send();
    }
  });
  input.addEventListener('input', () => {
    autosize();
    if (error.textContent && !sending) error.textContent = '';
    if (roomId && input.value.trim()) session.typing(roomId);
  });

  leaveBtn.addEventListener('click', async () => {
    const rs = current();
    if (!rs || !window.confirm(`Leave the private room “${rs.room.name}”? You will need to be added again.`)) return;
    try {
      await session.leave(rs.room.id);
    } catch (err) {
      error.textContent = describeError(err);
    }
  });

  // ---- switching rooms --------------------------------------------------

  function renderHeader() {
    const rs = current();
    if (!rs) return;
    title.textContent = rs.room.name;
    desc.textContent = rs.room.description || '';
    desc.hidden = !rs.room.description;
    leaveBtn.hidden = !(rs.room.private && rs.room.ownerId !== session.me.id);
    input.placeholder = `Message ${rs.room.private ? '' : '#'}${rs.room.name}`;
  }

  session.addEventListener('rooms', renderHeader);

  return {
    /** Show room `id` (or the empty state for null). */
    show(id) {
      const changed = id !== roomId;
      roomId = id;
      empty.hidden = Boolean(id);
      section.hidden = !id;
      if (!id) return;
      renderHeader();
      if (changed) {
        error.textContent = '';
        renderAll();
        renderTyping();
        // On touch screens focusing would pop the keyboard over the log.
        if (window.matchMedia('(pointer: fine)').matches) input.focus({ preventScroll: true });
      }
    },
    get roomId() { return roomId; },
  };
}
