// "@" in the composer offers the people a message can mention: the members
// of a private or direct room, or the users whose names start with what
// was typed (the directory) in a public room. Up and Down choose, Enter or
// Tab inserts "@username ", Escape closes the list; a click picks too. The
// composer stays the focus throughout (aria-activedescendant points at the
// chosen option).

import { el } from '../dom.js';
import { avatar } from '../render.js';

/** "@" at the start or after a character no name holds, then the name typed so far, up to the caret. */
const NAME_BEFORE_CARET = /(?:^|[^A-Za-z0-9_.@-])@([A-Za-z0-9_.-]{0,32})$/;
/** Wait this long after a keystroke before asking the server. */
const LOOKUP_DELAY_MS = 120;

export function mountMentionComplete({ session, input, getRoomId }) {
  const list = el('ul', {
    id: 'mention-list',
    className: 'mention-list',
    hidden: true,
    attrs: { role: 'listbox', 'aria-label': 'People to mention' },
  });
  input.closest('form').append(list);
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', list.id);

  let names = [];
  let active = 0;
  let timer = 0;
  let asked = 0; // numbers the lookups, so a slow answer cannot replace a newer one

  /** The "@name" being typed at the caret: {start, end, prefix}, or null. */
  function tokenAtCaret() {
    if (input.selectionStart !== input.selectionEnd) return null;
    const caret = input.selectionStart;
    const m = NAME_BEFORE_CARET.exec(input.value.slice(0, caret));
    return m ? { start: caret - m[1].length - 1, end: caret, prefix: m[1] } : null;
  }

  function update() {
    clearTimeout(timer);
    const token = tokenAtCaret();
    const roomId = getRoomId();
    if (!token || !roomId) {
      close();
      return;
    }
    const n = ++asked;
    timer = setTimeout(async () => {
      let found = [];
      try {
        found = await session.mentionCandidates(roomId, token.prefix);
      } catch {
        // No suggestions this time; typing on asks again.
      }
      if (n === asked && getRoomId() === roomId) open(found);
    }, LOOKUP_DELAY_MS);
  }

  function open(found) {
    names = found;
    active = 0;
    if (!names.length) {
      close();
      return;
    }
    list.replaceChildren(...names.map((name, i) => el('li', {
      id: `mention-option-${i}`,
      className: 'mention-option',
      dataset: { index: String(i) },
      attrs: { role: 'option', 'aria-selected': 'false' },
    }, avatar(name), el('span', { text: name }))));
    list.hidden = false;
    highlight();
  }

  function highlight() {
    for (const li of list.children) {
      const on = Number(li.dataset.index) === active;
      li.setAttribute('aria-selected', String(on));
      li.classList.toggle('active', on);
      if (on) li.scrollIntoView({ block: 'nearest' });
    }
    input.setAttribute('aria-activedescendant', `mention-option-${active}`);
  }

  function close() {
    clearTimeout(timer);
    asked += 1;
    names = [];
    list.hidden = true;
    list.replaceChildren();
    input.removeAttribute('aria-activedescendant');
  }

  /** Replace the "@name" being typed with the chosen name and a space. */
  function accept(i) {
    const name = names[i];
    const token = tokenAtCaret();
    close();
    if (!name || !token) return;
    const before = input.value.slice(0, token.start);
    const after = input.value.slice(token.end).replace(/^ /, '');
    const inserted = `@${name} `;
    input.value = before + inserted + after;
    const caret = before.length + inserted.length;
    input.setSelectionRange(caret, caret);
    // The composer grows, and the room hears we are typing, as for a keystroke.
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }

  // Registered before the composer's own keydown: Enter picks a name instead of sending.
  input.addEventListener('keydown', (ev) => {
    if (list.hidden || !names.length || ev.isComposing) return;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      active = (active + (ev.key === 'ArrowDown' ? 1 : -1) + names.length) % names.length;
      highlight();
    } else if ((ev.key === 'Enter' && !ev.shiftKey) || ev.key === 'Tab') {
      ev.preventDefault();
      accept(active);
    } else if (ev.key === 'Escape') {
      ev.preventDefault();
      ev.stopPropagation();
      close();
    }
  });
  input.addEventListener('input', update);
  input.addEventListener('click', update);
  input.addEventListener('blur', close);
  // Keep the keyboard in the composer while a name is clicked.
  list.addEventListener('pointerdown', (ev) => {
    const li = ev.target.closest('li[data-index]');
    if (!li) return;
    ev.preventDefault();
    accept(Number(li.dataset.index));
  });

  return { close };
}
