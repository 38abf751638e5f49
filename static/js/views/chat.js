// The open room: its message log (with older history on scroll-up), the
// per-message actions (react, see reaction-chooser.js; edit in place, see
// message-editor.js; delete), the room's own actions (leave, delete), the
// typing line and the composer. What has been read: read-marker.js. Which
// rows are on the page (a window around the view): message-window.js.

import { byId } from '../dom.js';
import { describeError } from '../errors.js';
import { MAX_COMPOSER_ROWS, messageTooLong } from '../message-fields.js';
import { setReactions } from '../reactions.js';
import { decorate, messageNode, setActions, updateMessageNode } from '../render.js';
import { picturesOf, useFileLinks } from './attachments.js';
import { mountComposerFiles } from './composer-files.js';
import { confirmAction } from './confirm.js';
import { mountLightbox } from './lightbox.js';
import { mountMentionComplete } from './mention-complete.js';
import { mountMessageEditor } from './message-editor.js';
import { mountMessageKeys } from './message-keys.js';
import { mountMessageWindow } from './message-window.js';
import { mountMessageAnchor } from './message-anchor.js';
import { mountReactionChooser } from './reaction-chooser.js';
import { mountReadMarker } from './read-marker.js';

/** Start fetching older messages when the reader is this close to the top. */
const LOAD_OLDER_THRESHOLD_PX = 240;
/** Within this distance of the bottom we follow new messages. */
const STICK_TO_BOTTOM_PX = 80;
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

  let roomId = null;
  let sending = false;
  // Rows with files get their signed links from the session.
  useFileLinks(session.fileLinks);

  const current = () => (roomId ? session.rooms.get(roomId) : null);
  const isMine = (m) => m.userId === session.me.id;
  const rowFor = (m) => {
    const n = messageNode(m, {
      mine: isMine(m),
      canEdit: session.canEdit(m),
      canDelete: session.canDelete(roomId, m),
      mentionsMe: Array.isArray(m.mentions) && m.mentions.includes(session.me.id),
    });
    setReactions(n, m.reactions, session.me.username);
    return n;
  };
  const findMessage = (id) => {
    const rs = current();
    return rs ? rs.messages.find((m) => m.id === id) || null : null;
  };
  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < STICK_TO_BOTTOM_PX;
  const rows = mountMessageWindow({
    scroller, log, buildRow: rowFor, decorate,
    getMessages: () => current()?.messages || [],
    // afterRows (below) needs the views mounted after this one.
    onRows: () => afterRows(),
    // A chooser open under a message that leaves the page closes.
    onDrop: (row) => { if (row.querySelector('.reaction-chooser')) reactions.close(false); },
  });
  const scrollToBottom = () => {
    rows.toBottom();
    scroller.scrollTop = scroller.scrollHeight;
    jump.hidden = true;
  };
  const rowOf = (id) => rows.rowOf(id);
  const editor = mountMessageEditor({ session, getRoomId: () => roomId, rowOf, findMessage, fallbackFocus: scroller });
  const reactions = mountReactionChooser({
    session, getRoomId: () => roomId, rowOf, findMessage, fallbackFocus: scroller,
    showError: (text) => { error.textContent = text; },
  });
  const marker = mountReadMarker({ session, scroller, getRoomId: () => roomId, rowOf });
  const anchor = mountMessageAnchor({ scroller });
  mountMessageKeys({ log, scroller });
  // Before the composer's keydown below: with names offered, Enter picks one.
  const mentions = mountMentionComplete({ session, input, getRoomId: () => roomId });
  // Files: attached, dropped or pasted into the composer; pictures of the room at full size.
  const files = mountComposerFiles({
    session, form, input, sendBtn, area: section, getRoomId: () => roomId,
    getRoomName: () => title.textContent, showError: (text) => { error.textContent = text; },
  });
  mountLightbox({ log, links: session.fileLinks, getPictures: () => picturesOf(current()?.messages || []), fallbackFocus: scroller });
  /** Rows were built or dropped: the divider and the editor go back onto theirs. */
  function afterRows() {
    marker.place();
    editor.reattach(false);
  }

  function updateEdges() {
    const rs = current();
    const loaded = Boolean(rs && rs.loaded);
    olderBtn.hidden = !loaded || !rs.hasMore;
    olderBtn.disabled = Boolean(rs && rs.olderPromise);
    logStart.hidden = !loaded || rs.hasMore;
    log.classList.toggle('loading', !loaded);
  }

  /** Show the room's history afresh: at message `anchorId` when it was opened at one. */
  function renderAll({ anchorId = null } = {}) {
    const hadFocus = editor.hasFocus();
    anchor.clear();
    rows.reset(roomId, anchorId || marker.firstUnreadId());
    editor.reattach(hadFocus);
    reactions.reattach();
    updateEdges();
    marker.place();
    if (anchorId) anchor.show(rowOf(anchorId));
    else if (!marker.scrollToDivider()) scrollToBottom();
    // Not at the newest messages: the way back to them.
    jump.hidden = !current()?.hasNewer;
    fillViewport();
    marker.check();
  }

  /** If the history does not fill the screen there is nothing to scroll: load more. */
  function fillViewport() {
    const rs = current();
    if (rs && rs.loaded && rs.hasMore && scroller.scrollHeight <= scroller.clientHeight + LOAD_OLDER_THRESHOLD_PX) {
      loadOlder();
    }
  }

  function append(messages) {
    const follow = nearBottom();
    const ownMessage = messages.some(isMine);
    rows.appended(messages, follow || ownMessage);
    if (follow || ownMessage) scrollToBottom();
    else jump.hidden = false;
    marker.check();
  }

  function prepend(messages) {
    if (!messages.length) { updateEdges(); return; }
    // The message the reader is looking at stays in place.
    rows.prepended();
    updateEdges();
    marker.place();
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

  /** Opened at a message: the page after the newest one held, on reaching the bottom. */
  async function loadNewer() {
    const rs = current();
    if (!rs || !rs.hasNewer || rs.newerPromise) return;
    try {
      await session.loadNewer(rs);
    } catch (err) {
      error.textContent = describeError(err);
    }
  }

  scroller.addEventListener('scroll', () => {
    if (scroller.scrollTop < LOAD_OLDER_THRESHOLD_PX) loadOlder();
    if (nearBottom() && current()?.hasNewer) loadNewer();
    else if (nearBottom()) jump.hidden = true;
  }, { passive: true });
  olderBtn.addEventListener('click', loadOlder);
  jump.addEventListener('click', () => {
    const rs = current();
    // Opened at a message: the newest page replaces what is held (and scrolls to its end).
    if (rs && rs.hasNewer) session.loadLatest(rs).catch((err) => { error.textContent = describeError(err); });
    else scrollToBottom();
    input.focus();
  });

  // ---- session events for the open room ---------------------------------

  const forThisRoom = (fn) => (ev) => { if (ev.detail.roomId === roomId) fn(ev.detail); };
  session.addEventListener('reset', forThisRoom(renderAll));
  session.addEventListener('newer', forThisRoom(({ messages }) => {
    rows.appended(messages, false);
    if (!current()?.hasNewer && nearBottom()) jump.hidden = true;
    marker.check();
  }));
  session.addEventListener('appended', forThisRoom(({ messages }) => append(messages)));
  session.addEventListener('prepended', forThisRoom(({ messages }) => { prepend(messages); fillViewport(); }));
  session.addEventListener('updated', forThisRoom(({ message }) => {
    const n = rowOf(message.id);
    if (n) {
      updateMessageNode(n, message);
      setReactions(n, message.reactions, session.me.username);
    }
    rows.changed(message.id);
  }));
  session.addEventListener('reactions', forThisRoom(({ message }) => {
    const n = rowOf(message.id);
    // A row of reactions appearing under the last message must not push it out of view.
    const follow = nearBottom();
    if (n) setReactions(n, message.reactions, session.me.username);
    rows.changed(message.id);
    if (n && follow) scrollToBottom();
  }));
  session.addEventListener('removed', forThisRoom(({ id }) => {
    if (editor.dropIfEditing(id)) error.textContent = 'The message you were editing was deleted.';
    reactions.drop(id);
    // Focus inside the row (its buttons, its editor) is kept in the log; the window regroups what followed.
    rows.removed(id);
    marker.place();
  }));
  session.addEventListener('typing', forThisRoom(renderTyping));
  // Our role changed (e.g. made an admin): offer the matching actions.
  session.addEventListener('me', () => {
    const rs = current();
    if (!rs) return;
    for (const m of rs.messages) {
      const n = rowOf(m.id);
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
      if (reactions.handleClick(row, btn)) return;
      if (btn.dataset.action === 'edit') editor.open(row.dataset.id);
      else if (btn.dataset.action === 'delete') askDelete(row.dataset.id);
      return;
    }
    // Without hover, a tap on a message shows its actions (another tap hides them).
    if (touch.matches && !ev.target.closest('a, .msg-editor, .reaction-chooser, .msg-attachments')) {
      const on = !row.classList.contains('show-actions');
      for (const other of log.querySelectorAll('.msg.show-actions')) other.classList.remove('show-actions');
      row.classList.toggle('show-actions', on);
    }
  });

  function askDelete(id) {
    const msg = findMessage(id);
    if (!msg) return;
    const rid = roomId;
    const n = msg.attachments ? msg.attachments.length : 0;
    const withFiles = n ? ` Its ${n === 1 ? 'file goes' : `${n} files go`} with it.` : '';
    confirmAction({
      title: 'Delete message?',
      text: (isMine(msg)
        ? 'Your message is removed for everyone in the room. This cannot be undone.'
        : `This message by ${msg.user} is removed for everyone in the room. This cannot be undone.`) + withFiles,
      quote: msg.message,
      confirmLabel: 'Delete',
      action: () => session.deleteMessage(rid, id),
      focusAfter: () => scroller,
    });
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
    const { files: attached, wait } = files.forSend();
    if (wait) {
      error.textContent = wait;
      return;
    }
    if (!text.trim() && !attached.length) return;
    const tooLong = messageTooLong(text);
    if (tooLong) {
      error.textContent = tooLong;
      return;
    }
    sending = true;
    sendBtn.disabled = true;
    input.setAttribute('aria-busy', 'true');
    error.textContent = '';
    try {
      // The message shows up when the server echoes it (receiveMessage);
      // the ack only tells us it was stored, so the text can be cleared.
      const rid = roomId;
      await session.send(rid, text.trim() ? text : '', attached);
      if (attached.length) files.sent(rid, attached);
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
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.defaultPrevented) {
      ev.preventDefault();
      send();
    }
  });
  // Up in an empty composer edits my last message, as in the chats people know.
  input.addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowUp' || input.value || ev.shiftKey || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.isComposing || ev.defaultPrevented) return;
    if (editLast()) ev.preventDefault();
  });
  /** Open the editor on my newest message of the open room; false when there is none to edit. */
  function editLast() {
    const msgs = current()?.messages || [];
    let i = msgs.length - 1;
    while (i >= 0 && !session.canEdit(msgs[i])) i--;
    if (i < 0) return false;
    // Its row may be off the page (message-window.js): the newest rows come back first.
    if (!rowOf(msgs[i].id)) scrollToBottom();
    if (!rowOf(msgs[i].id)) return false;
    editor.open(msgs[i].id);
    return true;
  }
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
        editor.close(false);
        reactions.close(false);
        marker.opened(current());
        mentions.close();
        error.textContent = '';
        files.render();
        renderAll();
        renderTyping();
        // On touch screens focusing would pop the keyboard over the log.
        if (window.matchMedia('(pointer: fine)').matches) input.focus({ preventScroll: true });
      }
    },
    get roomId() { return roomId; },
    /** Bring the newest messages onto the page and scroll to the end (e.g. below them, to what waits to be sent). */
    toBottom: scrollToBottom,
  };
}
