// Reactions under a message: the server's rule for what a reaction may be
// (checked before asking, so the usual mistakes are explained at once), the
// change my own toggle makes to a message's list, and the reaction row that
// shows them (emoji + count, pressed when mine is in it, a tooltip naming
// who reacted). Names reach the page as text only.

import { el, icon, ICONS } from './dom.js';

/** A handful of common reactions offered by the chooser; anything else can be typed. */
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'];
/** The server's limit, in characters (Unicode scalar values). */
export const REACTION_MAX_CHARS = 32;
/** The tooltip names this many people, then says how many more. */
const TOOLTIP_NAMES = 12;

/** Whitespace and control characters, as the server's rule counts them. */
const FORBIDDEN = /[\p{White_Space}\p{Cc}]/u;

/** Why `text` cannot be a reaction (a sentence), or null when it can. */
export function reactionProblem(text) {
  const n = [...text].length;
  if (n === 0) return 'Type an emoji or a short word.';
  if (n > REACTION_MAX_CHARS) return `A reaction is at most ${REACTION_MAX_CHARS} characters.`;
  if (FORBIDDEN.test(text)) return 'A reaction cannot contain spaces or line breaks.';
  return null;
}

/** Whether `username` is among the people of `reaction`. */
export function reactedBy(reaction, username) {
  return Array.isArray(reaction.users) && reaction.users.includes(username);
}

/**
 * The list `reactions` once `username`'s reaction `emoji` is added (`on`)
 * or taken back: the same array when that changes nothing, so applying a
 * change the server already announced is harmless. A new reaction goes
 * last and a reacting user at the end of its list, as the server orders them.
 */
export function withReaction(reactions, emoji, username, on) {
  const list = Array.isArray(reactions) ? reactions : [];
  const i = list.findIndex((r) => r.emoji === emoji);
  const had = i >= 0 && reactedBy(list[i], username);
  if (on === had) return list;
  if (on && i < 0) return [...list, { emoji, count: 1, users: [username] }];
  const users = on ? [...list[i].users, username] : list[i].users.filter((u) => u !== username);
  const next = list.slice();
  if (users.length) next[i] = { ...list[i], users, count: users.length };
  else next.splice(i, 1);
  return next;
}

/** "alice, bob and you": names in order, mine as "you", long lists cut short. */
function whoReacted(users, me) {
  const names = users.map((u) => (u === me ? 'you' : u));
  const shown = names.slice(0, TOOLTIP_NAMES);
  const more = names.length - shown.length;
  if (more > 0) shown.push(`${more} ${more === 1 ? 'other' : 'others'}`);
  const text = shown.length > 1 ? `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}` : (shown[0] || '');
  // Usernames keep their case; only a sentence starting with "you" gets a capital.
  return users[0] === me ? `Y${text.slice(1)}` : text;
}

let tipCount = 0;

function reactionButton(reaction, me) {
  const users = Array.isArray(reaction.users) ? reaction.users : [];
  const count = Number.isFinite(reaction.count) ? reaction.count : users.length;
  const mine = users.includes(me);
  const tipId = `reaction-tip-${++tipCount}`;
  const label = `${reaction.emoji}: ${count} ${count === 1 ? 'reaction' : 'reactions'}${mine ? ', including yours' : ''}`;
  const button = el('button', {
    type: 'button',
    className: 'reaction',
    dataset: { action: 'toggle-reaction', emoji: reaction.emoji },
    attrs: { 'aria-pressed': String(mine), 'aria-label': label, 'aria-describedby': tipId },
  },
  el('span', { className: 'reaction-emoji', text: reaction.emoji, attrs: { 'aria-hidden': 'true' } }),
  el('span', { className: 'reaction-count', text: String(count), attrs: { 'aria-hidden': 'true' } }));
  const tip = el('span', {
    id: tipId,
    className: 'reaction-tip',
    text: `${whoReacted(users, me)} reacted with ${reaction.emoji}`,
    attrs: { role: 'tooltip' },
  });
  const wrap = el('span', { className: 'reaction-wrap' }, button, tip);
  // Escape hides the tooltip until the pointer or the keyboard moves on.
  const showTip = () => wrap.classList.remove('tip-hidden');
  button.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') wrap.classList.add('tip-hidden'); });
  button.addEventListener('blur', showTip);
  wrap.addEventListener('mouseleave', showTip);
  return wrap;
}

/**
 * Show `reactions` under the message row `node` (`me` is the viewer's
 * username): a row of toggle buttons ending with an "add reaction" button,
 * or nothing when there are none. Keyboard focus on one of the row's
 * buttons stays on the same reaction (or the add button) across the rebuild.
 */
export function setReactions(node, reactions, me) {
  const old = node.querySelector(':scope > .msg-reactions');
  const focused = old && old.contains(document.activeElement) ? document.activeElement : null;
  const focusKey = focused ? buttonKey(focused) : null;
  const list = Array.isArray(reactions) ? reactions : [];
  let row = null;
  if (list.length) {
    row = el('div', { className: 'msg-reactions', attrs: { role: 'group', 'aria-label': 'Reactions' } },
      list.map((r) => reactionButton(r, me)),
      el('button', {
        type: 'button',
        className: 'reaction reaction-add',
        dataset: { action: 'react' },
        attrs: { 'aria-label': 'Add reaction', title: 'Add reaction' },
      }, icon(ICONS.smile, 16)));
    const bubble = node.querySelector(':scope > .msg-bubble');
    if (old) old.replaceWith(row);
    else bubble.after(row);
  } else if (old) {
    old.remove();
  }
  if (focusKey === null) return;
  const again = row && [...row.querySelectorAll('button')].find((b) => buttonKey(b) === focusKey);
  const fallback = node.querySelector('button[data-action="react"]');
  const target = again || fallback;
  if (target) target.focus({ preventScroll: true });
}

/** Which button of a reaction row `button` is, surviving a rebuild of the row. */
function buttonKey(button) {
  return button.dataset.emoji !== undefined ? `emoji:${button.dataset.emoji}` : 'add';
}
