// A username picker: type the start of a name, choose people from the
// suggestions (arrow keys and Enter, or the mouse) and see each choice as a
// chip that can be taken back. It is built around an <input> of the page,
// which keeps its <label>, and follows the ARIA combobox pattern (a listbox
// popup and an active descendant) so screen readers hear the suggestions.
// Used to start a direct conversation and to add members to a private room.

import { el, icon, ICONS } from '../dom.js';
import { avatar } from '../render.js';

/** Wait this long after the last keystroke before asking the server. */
const SEARCH_DELAY_MS = 150;
/** Suggestions shown at once. */
const SHOWN = 8;
/** The directory answers at most this many names (the server's cap). */
const SEARCH_LIMIT_MAX = 50;
/** No username is longer, so a longer prefix matches nobody. */
const USERNAME_MAX_CHARS = 32;

const same = (a, b) => a.toLowerCase() === b.toLowerCase();

/**
 * Turn `input` into a picker. `search(prefix, limit)` resolves to
 * `[{username}]`; at most `max` people are chosen; `exclude()` returns the
 * lowercase names never offered (the user, members already in);
 * `onChange()` runs whenever the chosen people change.
 */
export function mountUserPicker({ input, search, max, exclude = () => new Set(), onChange = () => {} }) {
  const { id } = input;
  const chosen = [];
  let options = [];
  let active = -1;
  let timer = null;
  /** Bumped per search (and by anything that makes one moot): older answers are dropped. */
  let gen = 0;

  const chips = el('ul', { className: 'picker-chips', attrs: { 'aria-label': 'Chosen people' } });
  const listbox = el('ul', {
    className: 'picker-options',
    id: `${id}-options`,
    hidden: true,
    attrs: { role: 'listbox', 'aria-label': 'Suggestions' },
    on: { mousedown: (ev) => ev.preventDefault() }, // keep the focus in the field
  });
  const note = el('p', { className: 'form-status picker-note', attrs: { role: 'status' } });
  const box = el('div', { className: 'picker', on: { click: (ev) => { if (ev.target === box) input.focus(); } } });
  input.replaceWith(box);
  box.append(chips, input, listbox, note);
  for (const [k, v] of Object.entries({
    role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': listbox.id,
    autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false',
  })) input.setAttribute(k, v);

  const full = () => chosen.length >= max;

  function renderChips() {
    chips.replaceChildren(...chosen.map((name) => el('li', { className: 'chip' },
      avatar(name),
      el('span', { className: 'chip-name', text: name }),
      el('button', {
        type: 'button',
        className: 'chip-remove',
        attrs: { 'aria-label': `Remove ${name} from the selection`, title: 'Remove' },
        on: { click: () => { unchoose(name); input.focus(); } },
      }, icon(ICONS.close, 14)))));
  }

  function close() {
    options = [];
    active = -1;
    listbox.hidden = true;
    listbox.replaceChildren();
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  }

  /** Forget any search under way or waiting. */
  function cancel() {
    clearTimeout(timer);
    gen += 1;
  }

  function setActive(i) {
    active = i;
    for (const [n, item] of [...listbox.children].entries()) item.setAttribute('aria-selected', String(n === i));
    const item = listbox.children[i];
    if (item) {
      input.setAttribute('aria-activedescendant', item.id);
      item.scrollIntoView({ block: 'nearest' });
    } else {
      input.removeAttribute('aria-activedescendant');
    }
  }

  /** `names` to offer for `prefix`; `anyone` tells whether the directory knew any name at all. */
  function showOptions(names, prefix, anyone) {
    options = names;
    listbox.replaceChildren(...names.map((name, i) => el('li', {
      id: `${id}-option-${i}`,
      className: 'picker-option',
      attrs: { role: 'option', 'aria-selected': 'false' },
      on: { click: () => choose(name), mousemove: () => { if (active !== i) setActive(i); } },
    }, avatar(name), el('span', { className: 'picker-option-name' },
      el('strong', { text: name.slice(0, prefix.length) }), name.slice(prefix.length)))));
    listbox.hidden = names.length === 0;
    input.setAttribute('aria-expanded', String(names.length > 0));
    // The first suggestion is ready for Enter, as in most pickers.
    setActive(names.length ? 0 : -1);
    note.textContent = names.length || !prefix ? '' : `No one${anyone ? ' else' : ''}’s username starts with “${prefix}”.`;
  }

  async function lookUp(prefix) {
    const mine = ++gen;
    const skip = new Set([...exclude(), ...chosen.map((n) => n.toLowerCase())]);
    let found;
    try {
      found = await search(prefix, Math.min(SEARCH_LIMIT_MAX, SHOWN + skip.size));
    } catch {
      if (mine === gen) {
        close();
        note.textContent = 'Could not look the names up. Try again.';
      }
      return;
    }
    if (mine !== gen) return;
    const all = (Array.isArray(found) ? found : []).map((u) => u.username).filter((n) => typeof n === 'string');
    const names = all.filter((n) => !skip.has(n.toLowerCase()));
    showOptions(names.slice(0, SHOWN), prefix, all.length > 0);
  }

  /** Look the typed prefix up once the typing pauses (`now` for the arrow keys). */
  function schedule(now = false) {
    cancel();
    const prefix = input.value.trim();
    if (full()) {
      close();
      note.textContent = prefix ? `At most ${max} people.` : '';
      return;
    }
    if ((!prefix && !now) || [...prefix].length > USERNAME_MAX_CHARS) {
      close();
      note.textContent = '';
      return;
    }
    if (now) lookUp(prefix);
    else timer = setTimeout(() => lookUp(prefix), SEARCH_DELAY_MS);
  }

  function choose(name) {
    cancel();
    close();
    input.value = '';
    if (full()) {
      note.textContent = `At most ${max} people.`;
    } else if (!chosen.some((n) => same(n, name))) {
      chosen.push(name);
      renderChips();
      note.textContent = '';
      onChange();
    }
    input.focus();
  }

  function unchoose(name) {
    const i = chosen.findIndex((n) => same(n, name));
    if (i < 0) return;
    chosen.splice(i, 1);
    renderChips();
    note.textContent = `${name} removed.`;
    onChange();
  }

  input.addEventListener('input', () => schedule());
  input.addEventListener('keydown', (ev) => {
    if (ev.isComposing) return;
    const open = !listbox.hidden && options.length > 0;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      if (!open) schedule(true);
      else setActive((active + (ev.key === 'ArrowDown' ? 1 : options.length - 1)) % options.length);
    } else if (ev.key === 'Enter' && open && active >= 0) {
      ev.preventDefault();
      choose(options[active]);
    } else if (ev.key === 'Escape' && open) {
      // Close the suggestions only, not the dialog or panel around them.
      ev.preventDefault();
      ev.stopPropagation();
      cancel();
      close();
    } else if (ev.key === 'Backspace' && !input.value && chosen.length) {
      unchoose(chosen[chosen.length - 1]);
    }
  });
  box.addEventListener('focusout', (ev) => { if (!box.contains(ev.relatedTarget)) { cancel(); close(); } });

  return {
    /** The chosen names, then the typed text when it is not one of them (a whole name typed counts). */
    names() {
      const typed = input.value.trim();
      return typed && !chosen.some((n) => same(n, typed)) ? [...chosen, typed] : [...chosen];
    },
    /** Back to empty: no chips, no text, no suggestions. */
    clear() {
      cancel();
      close();
      chosen.length = 0;
      input.value = '';
      note.textContent = '';
      renderChips();
    },
    /** Clear only the typed text (e.g. once it was used). */
    clearText() {
      cancel();
      close();
      input.value = '';
    },
    focus: () => input.focus(),
    input,
  };
}
