// The search's results panel: one group per room, in the order of each
// room's newest result (the answer is newest first, so the order in which
// rooms first appear), each result a button (author, time, the text with
// the matched words marked) that opens the room at that message. Up and
// Down move between results (Up from the first goes back to the search
// box), Tab goes through them too; "More results" appends the next page.

import { isDirect } from '../directory.js';
import { el, icon, ICONS } from '../dom.js';
import { markedText } from '../search-text.js';
import { moveAmong } from './roving.js';

const IDLE_TEXT = 'Type a word to search the messages of your rooms.';
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const thisYear = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
const anyYear = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

/** When a message was written, as short as it can be said: the time today, the day this year. */
function when(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return timeOnly.format(d);
  return (d.getFullYear() === now.getFullYear() ? thisYear : anyYear).format(d);
}

/** The results grouped by room, in the order each room first appears. */
function byRoom(results) {
  const groups = new Map();
  for (const r of results) {
    if (!r || !r.message || !r.room) continue;
    const group = groups.get(r.room.id) || groups.set(r.room.id, { room: r.room, hits: [] }).get(r.room.id);
    group.hits.push(r);
  }
  return [...groups.values()];
}

function roomIcon(room) {
  if (isDirect(room)) return ICONS.users;
  return room.kind === 'private' || room.private ? ICONS.lock : ICONS.hash;
}

function hitNode(result, onPick) {
  const m = result.message;
  const time = el('time', {
    className: 'search-hit-time', text: when(m.timestamp),
    attrs: { datetime: m.timestamp, title: Number.isNaN(Date.parse(m.timestamp)) ? null : fullFormat.format(new Date(m.timestamp)) },
  });
  const text = el('span', { className: 'search-hit-text' }, markedText(m.message, result.highlights));
  return el('li', {}, el('button', {
    type: 'button', className: 'search-hit', dataset: { roomId: result.room.id, id: m.id },
    on: { click: () => onPick(result) },
  }, el('span', { className: 'search-hit-head' }, el('span', { className: 'search-hit-author', text: m.user }), ' ', time), ' ', text));
}

/**
 * `list` gets the groups, `status` (role=status) says what is going on,
 * `error` (role=alert) why a search failed; `onPick(result)`, `onMore()`;
 * `backTo()` takes the keyboard back to the search box.
 */
export function mountSearchResults({ list, status, error, moreBtn, onPick, onMore, backTo }) {
  const hits = () => [...list.querySelectorAll('.search-hit')];

  function renderList(results) {
    list.replaceChildren(...byRoom(results).map(({ room, hits: found }, i) => {
      const id = `search-group-${i}`;
      return el('div', { className: 'search-group' },
        el('h2', { className: 'search-room', attrs: { id } }, icon(roomIcon(room), 14), el('span', { text: room.name })),
        el('ul', { className: 'search-hits', attrs: { 'aria-labelledby': id } }, found.map((r) => hitNode(r, onPick))));
    }));
  }

  function statusText(state) {
    const n = state.results.length;
    if (state.status === 'idle') return IDLE_TEXT;
    if (state.status === 'loading') return 'Searching…';
    if (state.status === 'error') return '';
    if (!n) return 'No messages match.';
    return `${n} message${n === 1 ? '' : 's'} found${state.next ? ', more below' : ''}.`;
  }

  list.addEventListener('keydown', (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    const all = hits();
    if (ev.key === 'ArrowUp' && document.activeElement === all[0]) {
      ev.preventDefault();
      backTo();
      return;
    }
    moveAmong(all, ev, { back: 'ArrowUp', forth: 'ArrowDown', wrap: false });
  });
  moreBtn.addEventListener('click', onMore);

  return {
    /** Show the search's state (see search.js). */
    render(state) {
      const wasOnMore = document.activeElement === moreBtn;
      // While a new question is on its way the previous answer stays, dimmed, rather than blinking away.
      const stale = state.status === 'loading';
      list.classList.toggle('stale', stale);
      list.setAttribute('aria-busy', String(stale || state.more));
      if (state.status === 'idle') list.replaceChildren();
      else if (!stale) renderList(state.results);
      status.textContent = statusText(state);
      error.textContent = state.status === 'error' ? state.error : '';
      moreBtn.hidden = !state.next || stale;
      // Not `disabled`: that would drop the keyboard while the page loads.
      moreBtn.setAttribute('aria-disabled', String(state.more));
      moreBtn.textContent = state.more ? 'Loading more…' : 'More results';
      // The keyboard goes on to the first result the page brought.
      const firstNew = state.added ? state.results[state.results.length - state.added] : null;
      if (wasOnMore && firstNew && firstNew.message) list.querySelector(`.search-hit[data-id="${CSS.escape(firstNew.message.id)}"]`)?.focus();
    },
    /** Say `text` where a failed search says why. */
    say(text) {
      error.textContent = text;
    },
    /** Put the keyboard on the first result; false when there is none. */
    focusFirst() {
      const first = hits()[0];
      if (first) first.focus();
      return Boolean(first);
    },
  };
}
