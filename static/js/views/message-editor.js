// Editing one of our messages in place: the editor replaces the message's
// text inside its row, Enter saves, Escape cancels, and the keyboard goes
// back to the message's Edit button when it closes. One editor at a time.

import { el } from '../dom.js';
import { describeError } from '../errors.js';
import { MAX_COMPOSER_ROWS, MAX_MESSAGE_CHARS, messageTooLong } from '../message-fields.js';
import { limitField } from './char-limit.js';

/**
 * `rowOf(id)` is the row of message `id` in the open room (or null),
 * `findMessage(id)` the message itself, `getRoomId()` the open room and
 * `fallbackFocus` where the keyboard goes when the row has no Edit button.
 */
export function mountMessageEditor({ session, getRoomId, rowOf, findMessage, fallbackFocus }) {
  /** The message being edited: {roomId, id, form, input, error, busy, unwatch}. */
  let editing = null;
  let editorCount = 0;

  function open(id) {
    const msg = findMessage(id);
    const node = rowOf(id);
    if (!msg || !node || !session.canEdit(msg)) return;
    if (editing) close(false);
    const n = ++editorCount;
    const box = el('textarea', {
      id: `msg-edit-${n}`,
      className: 'msg-edit-input',
      rows: Math.min(MAX_COMPOSER_ROWS, msg.message.split('\n').length),
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
    editing = { roomId: getRoomId(), id, form, input: box, error: err, busy: false, unwatch: () => {} };
    form.addEventListener('submit', (ev) => { ev.preventDefault(); save(); });
    form.querySelector('[data-role="cancel"]').addEventListener('click', () => close(true));
    box.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        save();
      } else if (ev.key === 'Escape') {
        ev.preventDefault();
        ev.stopPropagation();
        close(true);
      }
    });
    box.addEventListener('input', () => { err.textContent = ''; });
    limitField(box, MAX_MESSAGE_CHARS);
    attach(node);
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
    editing.unwatch = keepInView(form);
  }

  /**
   * Keep the whole editor, Save and Cancel included, on screen: the newest
   * message grows into it below the fold, and so does a box that grows
   * with its text or an error shown under it, while it has the keyboard.
   */
  function keepInView(form) {
    form.scrollIntoView({ block: 'nearest' });
    const grown = new ResizeObserver(() => {
      if (form.contains(document.activeElement)) form.scrollIntoView({ block: 'nearest' });
    });
    grown.observe(form);
    return () => grown.disconnect();
  }

  /** Put the open editor into `node` in place of the message text. */
  function attach(node) {
    node.classList.add('editing');
    node.classList.remove('show-actions');
    node.querySelector('.msg-text').hidden = true;
    node.querySelector('.msg-text').after(editing.form);
  }

  /**
   * After a re-render the editor moves to the message's new row, if it
   * still exists. A message of the open room whose row is off the page
   * (views/message-window.js) keeps its editor until the row is built again.
   */
  function reattach(refocus) {
    if (!editing) return;
    const here = editing.roomId === getRoomId();
    const node = here ? rowOf(editing.id) : null;
    if (!node) {
      if (!here || !findMessage(editing.id)) {
        editing.unwatch();
        editing = null;
      }
      return;
    }
    if (!node.contains(editing.form)) attach(node);
    if (refocus) editing.input.focus({ preventScroll: true });
  }

  /** Close the editor; `refocus` puts the keyboard back on the message's Edit button. */
  function close(refocus) {
    if (!editing) return;
    const { form, unwatch } = editing;
    editing = null;
    unwatch();
    const node = form.closest('.msg');
    if (!node) {
      form.remove();
      return;
    }
    node.classList.remove('editing');
    node.querySelector('.msg-text').hidden = false;
    // Focus moves before the form goes: the message's actions are displayed
    // only while focus is within the message.
    if (refocus) {
      const btn = node.querySelector('button[data-action="edit"]');
      (btn || fallbackFocus).focus({ preventScroll: true });
    }
    form.remove();
  }

  async function save() {
    const ed = editing;
    if (!ed || ed.busy) return;
    const text = ed.input.value;
    const msg = findMessage(ed.id);
    if (!text.trim()) {
      ed.error.textContent = 'A message cannot be empty. To remove it, use Delete instead.';
      return;
    }
    const tooLong = messageTooLong(text);
    if (tooLong) {
      ed.error.textContent = tooLong;
      return;
    }
    if (msg && msg.message === text) {
      close(true);
      return;
    }
    ed.busy = true;
    ed.input.setAttribute('aria-busy', 'true');
    for (const b of ed.form.querySelectorAll('button')) b.disabled = true;
    try {
      await session.editMessage(ed.roomId, ed.id, text);
      if (editing === ed) close(true);
    } catch (err) {
      if (editing === ed) ed.error.textContent = describeError(err);
    } finally {
      ed.busy = false;
      ed.input.removeAttribute('aria-busy');
      for (const b of ed.form.querySelectorAll('button')) b.disabled = false;
    }
  }

  return {
    open,
    close,
    reattach,
    /** Whether the keyboard is inside the open editor. */
    hasFocus: () => Boolean(editing) && editing.form.contains(document.activeElement),
    /** The message was deleted: forget an editor open on it; true when there was one. */
    dropIfEditing(id) {
      if (!editing || editing.id !== id) return false;
      editing.unwatch();
      editing = null;
      return true;
    },
  };
}
