// The open room: its message log (with older history on scroll-up), the
// per-message actions (edit in place, delete), the room's own actions
// (leave, delete), the typing line and the composer.

import { byId, el } from '../dom.js';
import { describeError } from '../errors.js';
import { decorate, messageNode, setActions, updateMessageNode } from '../render.js';
import { confirmAction } from './confirm.js';

/** Start fetching older messages when the reader is this close to the top. */
const LOAD_OLDER_THRESHOLD_PX = 240;
/** Within this distance of the bottom we follow new messages. */
const STICK_TO_BOTTOM_PX = 80;
/** The contract's message limit, in characters. */
const MAX_MESSAGE_CHARS = 4000;
/** The composer grows up to this many lines, then scrolls. */
const MAX_COMPOSER_ROWS = 8;
/** Screens without hover show a message's actions when it is tapped. */
const TOUCH_QUERY = '(hover: none)';

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
  const deleteRoomBtn = byId('delete-room-btn');
  const settingsBtn = byId('room-settings-btn');
  const touch = window.matchMedia(TOUCH_QUERY);

  /** id -> row of the room on screen, for edits, deletes and regrouping. */
  let nodes = new Map();
  let roomId = null;
  let sending = false;
  /** The message being edited: {roomId, id, form, input, error, busy}. */
  let editing = null;
  let editorCount = 0;

  const current = () => (roomId ? session.rooms.get(roomId) : null);
  const isMine = (m) => m.userId === session.me.id;
  const rowFor = (m) => messageNode(m, {
    mine: isMine(m),
    canEdit: session.canEdit(m),
    canDelete: session.canDelete(roomId, m),
  });
  const findMessage = (id) => {
    const rs = current();
    return rs ? rs.messages.find((m) => m.id === id) || null : null;
  };
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
      const n = rowFor(m);
      decorate(n, m, prev);
      nodes.set(m.id, n);
      rows.push(n);
      prev = m;
    }
    const hadFocus = Boolean(editing) && editing.form.contains(document.activeElement);
    bulk(() => log.replaceChildren(...rows));
    reattachEditor(hadFocus);
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
      const n = rowFor(m);
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
      const n = rowFor(m);
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
    if (editing && editing.id === id) {
      editing = null;
      error.textContent = 'The message you were editing was deleted.';
    }
    // Focus inside the row (its buttons, its editor) would be lost with it.
    if (n.contains(document.activeElement)) scroller.focus({ preventScroll: true });
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
  // Our role changed (e.g. made an admin): offer the matching actions.
  session.addEventListener('me', () => {
    const rs = current();
    if (!rs) return;
    for (const m of rs.messages) {
      const n = nodes.get(m.id);
      if (n) setActions(n, { canEdit: session.canEdit(m), canDelete: session.canDelete(roomId, m) });
    }
    renderHeader();
  });

  // ---- message actions ------------------------------------------------------

  log.addEventListener('click', (ev) => {
    const row = ev.target.closest('.msg');
    if (!row || !log.contains(row)) return;
    const btn = ev.target.closest('button[data-action]');
    if (btn) {
      if (btn.dataset.action === 'edit') openEditor(row.dataset.id);
      else if (btn.dataset.action === 'delete') askDelete(row.dataset.id);
      return;
    }
    // Without hover, a tap on a message shows its actions (another tap hides them).
    if (touch.matches && !ev.target.closest('a, .msg-editor')) {
      const on = !row.classList.contains('show-actions');
      for (const other of log.querySelectorAll('.msg.show-actions')) other.classList.remove('show-actions');
      row.classList.toggle('show-actions', on);
    }
  });

  function askDelete(id) {
    const msg = findMessage(id);
    if (!msg) return;
    const rid = roomId;
    confirmAction({
      title: 'Delete message?',
      text: isMine(msg)
        ? 'Your message is removed for everyone in the room. This cannot be undone.'
        : `This message by ${msg.user} is removed for everyone in the room. This cannot be undone.`,
      quote: msg.message,
      confirmLabel: 'Delete',
      action: () => session.deleteMessage(rid, id),
      focusAfter: () => scroller,
    });
  }

  function openEditor(id) {
    const msg = findMessage(id);
    const node = nodes.get(id);
    if (!msg || !node || !session.canEdit(msg)) return;
    if (editing) closeEditor(false);
    const n = ++editorCount;
    const box = el('textarea', {
      id: `msg-edit-${n}`,
      className: 'msg-edit-input',
      rows: Math.min(MAX_COMPOSER_ROWS, msg.message.split('\n').length),
      maxLength: MAX_MESSAGE_CHARS,
      value: msg.message,
      attrs: { 'aria-describedby': `msg-edit-help-${n}` },
    });
    const err = el('p', { className: 'form-error', attrs: { role: 'alert' } });
    // Inside the log's live region, but not news: keep screen readers from announcing it.
    const form = el('form', { className: 'msg-editor', noValidate: true, attrs: { 'aria-live': 'off' } },
      el('label', { className: 'visually-hidden', text: 'Edit message', attrs: { for: box.id } }),
      box,
      el('div', { className: 'msg-editor-foot' },
        el('span', { id: `msg-edit-help-${n}`, className: 'msg-editor-hint', text: 'Enter to save · Escape to cancel' }),
        el('button', { type: 'button', className: 'btn tiny', text: 'Cancel', dataset: { role: 'cancel' } }),
        el('button', { type: 'submit', className: 'btn tiny primary', text: 'Save' })),
      err);
    editing = { roomId, id, form, input: box, error: err, busy: false };
    form.addEventListener('submit', (ev) => { ev.preventDefault(); saveEdit(); });
    form.querySelector('[data-role="cancel"]').addEventListener('click', () => closeEditor(true));
    box.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        saveEdit();
      } else if (ev.key === 'Escape') {
        ev.preventDefault();
        ev.stopPropagation();
        closeEditor(true);
      }
    });
    box.addEventListener('input', () => { err.textContent = ''; });
    attachEditor(node);
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }

  /** Put the open editor into `node` in place of the message text. */
  function attachEditor(node) {
    node.classList.add('editing');
    node.classList.remove('show-actions');
    node.querySelector('.msg-text').hidden = true;
    node.querySelector('.msg-text').after(editing.form);
  }

  /** After a re-render the editor moves to the message's new row, if it still exists. */
  function reattachEditor(refocus) {
    if (!editing) return;
    const node = editing.roomId === roomId ? nodes.get(editing.id) : null;
    if (!node) {
      editing = null;
      return;
    }
    attachEditor(node);
    if (refocus) editing.input.focus({ preventScroll: true });
  }

  /** Close the editor; `refocus` puts the keyboard back on the message's Edit button. */
  function closeEditor(refocus) {
    if (!editing) return;
    const { form } = editing;
    editing = null;
    const node = form.closest('.msg');
    form.remove();
    if (!node) return;
    node.classList.remove('editing');
    node.querySelector('.msg-text').hidden = false;
    if (refocus) {
      const btn = node.querySelector('button[data-action="edit"]');
      (btn || scroller).focus({ preventScroll: true });
    }
  }

  async function saveEdit() {
    const ed = editing;
    if (!ed || ed.busy) return;
    const text = ed.input.value;
    const msg = findMessage(ed.id);
    if (!text.trim()) {
      ed.error.textContent = 'A message cannot be empty. To remove it, use Delete instead.';
      return;
    }
    if ([...text].length > MAX_MESSAGE_CHARS) {
      ed.error.textContent = `Messages are at most ${MAX_MESSAGE_CHARS} characters.`;
      return;
    }
    if (msg && msg.message === text) {
      closeEditor(true);
      return;
    }
    ed.busy = true;
    ed.input.setAttribute('aria-busy', 'true');
    for (const b of ed.form.querySelectorAll('button')) b.disabled = true;
    try {
      await session.editMessage(ed.roomId, ed.id, text);
      if (editing === ed) closeEditor(true);
    } catch (err) {
      if (editing === ed) ed.error.textContent = describeError(err);
    } finally {
      ed.busy = false;
      ed.input.removeAttribute('aria-busy');
      for (const b of ed.form.querySelectorAll('button')) b.disabled = false;
    }
  }

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

  // ---- room actions -----------------------------------------------------

  /** Where the keyboard goes once the room is gone. */
  const afterRoomGone = () => (section.hidden ? byId('new-room-btn') : input);

  leaveBtn.addEventListener('click', () => {
    const rs = current();
    if (!rs) return;
    const id = rs.room.id;
    confirmAction({
      title: `Leave “${rs.room.name}”?`,
      text: 'It is a private room: to come back, its owner has to add you again.',
      confirmLabel: 'Leave room',
      action: () => session.leave(id),
      focusAfter: afterRoomGone,
    });
  });

  deleteRoomBtn.addEventListener('click', () => {
    const rs = current();
    if (!rs) return;
    const id = rs.room.id;
    confirmAction({
      title: `Delete “${rs.room.name}”?`,
      text: 'The room and its whole history are deleted for everyone in it. This cannot be undone.',
      confirmLabel: 'Delete room',
      action: () => session.deleteRoom(id),
      focusAfter: afterRoomGone,
    });
  });

  // ---- switching rooms --------------------------------------------------

  function renderHeader() {
    const rs = current();
    if (!rs) return;
    title.textContent = rs.room.name;
    desc.textContent = rs.room.description || '';
    desc.hidden = !rs.room.description;
    leaveBtn.hidden = !session.canLeave(rs.room.id);
    settingsBtn.hidden = !session.canManageRoom(rs.room.id);
    deleteRoomBtn.hidden = !session.canManageRoom(rs.room.id);
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
        if (editing) closeEditor(false);
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
