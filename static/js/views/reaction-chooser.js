// Reactions in the open room: a click on a reaction under a message toggles
// mine, and "Add reaction" (in the message's actions or at the end of its
// reaction row) opens a chooser under the message with a handful of common
// emoji and a field for any other one. The server's refusals show in the
// chooser while it is open, else through `showError`.

import { el } from '../dom.js';
import { describeError } from '../errors.js';
import { QUICK_REACTIONS, REACTION_MAX_CHARS, reactedBy, reactionProblem } from '../reactions.js';
import { moveAmong } from './roving.js';

/**
 * `rowOf(id)` is the row of message `id` in the open room (or null),
 * `findMessage(id)` the message, `getRoomId()` the open room and
 * `fallbackFocus` where the keyboard goes when the message is gone.
 */
export function mountReactionChooser({ session, getRoomId, rowOf, findMessage, showError, fallbackFocus }) {
  /** The open chooser: {roomId, id, opener, box, input, error, busy}. */
  let chooser = null;
  let chooserCount = 0;
  /** "messageId emoji" of toggles under way: a second click waits for the first. */
  const pending = new Set();

  function open(id, opener) {
    const node = rowOf(id);
    if (!node) return;
    close(false);
    const n = ++chooserCount;
    const input = el('input', {
      id: `reaction-other-${n}`,
      className: 'reaction-other-input',
      autocomplete: 'off',
      spellcheck: false,
      // Characters, not UTF-16 units, are checked before sending; this only stops a paste of a novel.
      maxLength: REACTION_MAX_CHARS * 4,
      placeholder: 'Emoji or word',
      attrs: { 'aria-describedby': `reaction-error-${n}` },
    });
    const error = el('p', { id: `reaction-error-${n}`, className: 'form-error', attrs: { role: 'alert' } });
    const quick = el('div', { className: 'reaction-quick' }, QUICK_REACTIONS.map((emoji) => el('button', {
      type: 'button',
      className: 'reaction-pick',
      text: emoji,
      dataset: { emoji },
      attrs: { 'aria-label': `React with ${emoji}`, title: `React with ${emoji}` },
    })));
    const form = el('form', { className: 'reaction-other', noValidate: true },
      el('label', { text: 'Other', attrs: { for: input.id } }),
      input,
      el('button', { type: 'submit', className: 'btn tiny primary', text: 'Add' }),
      el('button', { type: 'button', className: 'btn tiny', text: 'Cancel', dataset: { role: 'cancel' } }));
    // Inside the log's live region, but not news: keep screen readers from announcing it.
    const box = el('div', {
      className: 'reaction-chooser',
      attrs: { role: 'group', 'aria-label': 'Add a reaction', 'aria-live': 'off' },
    }, quick, form, error);
    chooser = { roomId: getRoomId(), id, opener, box, input, error, busy: false };

    quick.addEventListener('click', (ev) => {
      const pick = ev.target.closest('button[data-emoji]');
      if (pick) choose(pick.dataset.emoji);
    });
    quick.addEventListener('keydown', (ev) => moveAmong([...quick.querySelectorAll('button')], ev));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const text = input.value.trim();
      const problem = reactionProblem(text);
      if (problem) {
        showProblem(problem);
        return;
      }
      choose(text);
    });
    form.querySelector('[data-role="cancel"]').addEventListener('click', () => close(true));
    input.addEventListener('input', () => showProblem(''));
    box.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Escape') return;
      ev.preventDefault();
      ev.stopPropagation();
      close(true);
    });
    node.classList.remove('show-actions');
    node.append(box);
    quick.querySelector('button').focus({ preventScroll: true });
    box.scrollIntoView({ block: 'nearest' });
  }

  function showProblem(text) {
    if (!chooser) return;
    chooser.error.textContent = text;
    if (text) {
      chooser.input.setAttribute('aria-invalid', 'true');
      chooser.input.focus({ preventScroll: true });
      chooser.box.scrollIntoView({ block: 'nearest' });
    } else {
      chooser.input.removeAttribute('aria-invalid');
    }
  }

  /** Close the chooser; `refocus` puts the keyboard back on the button that opened it. */
  function close(refocus) {
    if (!chooser) return;
    const { box, id, opener } = chooser;
    chooser = null;
    // Focus moves before the box goes: the message's actions are displayed
    // only while focus is within the message, so the opener can take focus
    // only while the box still holds it.
    if (refocus && opener.isConnected) opener.focus({ preventScroll: true });
    box.remove();
    if (refocus && !opener.isConnected) focusIn(id, null);
  }

  /** Put the keyboard on the reaction `emoji` of message `id`, else its "Add reaction", else the log. */
  function focusIn(id, emoji) {
    const node = rowOf(id);
    const buttons = node ? [...node.querySelectorAll('.msg-reactions button[data-emoji]')] : [];
    const target = buttons.find((b) => b.dataset.emoji === emoji) ||
      (node && node.querySelector('button[data-action="react"]')) || fallbackFocus;
    target.focus({ preventScroll: true });
  }

  /** Add my reaction `emoji` to the chooser's message. */
  async function choose(emoji) {
    const c = chooser;
    if (!c || c.busy) return;
    c.busy = true;
    c.box.setAttribute('aria-busy', 'true');
    for (const b of c.box.querySelectorAll('button, input')) b.disabled = true;
    try {
      await session.react(c.roomId, c.id, emoji, true);
      if (chooser === c) {
        close(false);
        focusIn(c.id, emoji);
      }
    } catch (err) {
      if (chooser === c) {
        for (const b of c.box.querySelectorAll('button, input')) b.disabled = false;
        showProblem(describeError(err));
      }
    } finally {
      c.busy = false;
      c.box.removeAttribute('aria-busy');
    }
  }

  /** Clicking a reaction under a message: take mine back if it is there, else add it. */
  async function toggle(id, emoji) {
    const msg = findMessage(id);
    const roomId = getRoomId();
    const key = `${id} ${emoji}`;
    if (!msg || pending.has(key)) return;
    const reaction = (msg.reactions || []).find((r) => r.emoji === emoji);
    const on = !(reaction && reactedBy(reaction, session.me.username));
    pending.add(key);
    try {
      await session.react(roomId, id, emoji, on);
    } catch (err) {
      showError(describeError(err));
    } finally {
      pending.delete(key);
    }
  }

  // A click elsewhere closes the chooser (the keyboard stays where it went).
  document.addEventListener('pointerdown', (ev) => {
    if (chooser && !chooser.box.contains(ev.target) && !ev.target.closest('button[data-action="react"]')) close(false);
  }, true);

  return {
    /** A click on a message's button `btn` in row `row`: true when it was about reactions. */
    handleClick(row, btn) {
      if (btn.dataset.action === 'react') {
        if (chooser && chooser.id === row.dataset.id) close(true);
        else open(row.dataset.id, btn);
        return true;
      }
      if (btn.dataset.action === 'toggle-reaction') {
        toggle(row.dataset.id, btn.dataset.emoji);
        return true;
      }
      return false;
    },
    close,
    /** After the log was rebuilt the chooser moves to the message's new row, if it is still shown. */
    reattach() {
      if (!chooser) return;
      const node = chooser.roomId === getRoomId() ? rowOf(chooser.id) : null;
      if (node) node.append(chooser.box);
      else chooser = null;
    },
    /** The message was deleted: forget a chooser open on it. */
    drop(id) {
      if (chooser && chooser.id === id) chooser = null;
    },
  };
}
