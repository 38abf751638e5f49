// Turns messages into DOM nodes. Message text is user content: it is only
// ever placed with text nodes, and links are built with createElement.

import { el, icon, ICONS } from './dom.js';
import { parseMarkdown } from './markdown.js';
import { attachmentsNode } from './views/attachments.js';

/** Consecutive messages of one author within this gap share one header. */
const GROUP_GAP_MS = 5 * 60 * 1000;

// http(s) URLs up to the next whitespace; trailing punctuation is trimmed
// below so "see https://x.org." does not swallow the full stop.
const URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;
const TRAILING_PUNCT = /[.,;:!?'")\]}>]+$/;

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' });

/**
 * Append `text` to `parent`, turning http(s) URLs into safe links.
 * Anything that does not parse as an http(s) URL stays plain text.
 */
export function appendLinkified(parent, text) {
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let raw = match[0];
    // Keep a closing parenthesis that belongs to the URL, e.g. wiki links.
    const trimmed = raw.replace(TRAILING_PUNCT, '');
    const opens = (trimmed.match(/\(/g) || []).length;
    const closes = (trimmed.match(/\)/g) || []).length;
    raw = opens > closes && raw.startsWith(trimmed + ')') ? trimmed + ')' : trimmed;
    const url = safeUrl(raw);
    if (!url) continue;
    if (match.index > last) parent.append(document.createTextNode(text.slice(last, match.index)));
    parent.append(el('a', { href: url, text: raw, attrs: { target: '_blank', rel: 'noopener noreferrer' } }));
    last = match.index + raw.length;
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

/**
 * Append message text with its Markdown subset (see markdown.js): styles
 * become elements, code shows literally, and the rest is linkified text.
 */
export function appendMessageText(parent, text) {
  for (const block of parseMarkdown(text)) {
    if (block.type === 'code-block') parent.append(el('pre', { className: 'msg-code-block' }, el('code', { text: block.text })));
    else appendInline(parent, block.children);
  }
}

const INLINE_TAGS = { strong: 'strong', em: 'em', del: 'del' };

function appendInline(parent, nodes) {
  for (const n of nodes) {
    if (n.type === 'text') appendLinkified(parent, n.text);
    else if (n.type === 'code') parent.append(el('code', { className: 'msg-code', text: n.text }));
    else appendInline(parent.appendChild(el(INLINE_TAGS[n.type])), n.children);
  }
}

function safeUrl(raw) {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

export function formatTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : timeFormat.format(d);
}

function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

function dayLabel(iso) {
  const d = new Date(iso);
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(iso) === dayKey(today.toISOString())) return 'Today';
  if (dayKey(iso) === dayKey(yesterday.toISOString())) return 'Yesterday';
  return dayFormat.format(d);
}

/** Number of avatar colours defined in style.css (.av-0 ... .av-9). */
const AVATAR_COLOURS = 10;

/** FNV-1a hash of the name: the same person keeps the same colour everywhere. */
function colourIndex(name) {
  let h = 0x811c9dc5;
  for (const ch of name) {
    h ^= ch.codePointAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % AVATAR_COLOURS;
}

export function avatar(name) {
  const first = [...name][0] || '?';
  // The colour comes from a class, not an inline style (CSP).
  return el('span', { className: `avatar av-${colourIndex(name)}`, text: first.toUpperCase(), attrs: { 'aria-hidden': 'true' } });
}

/**
 * Build one message row. `mine` marks the viewer's own messages; `canEdit`
 * and `canDelete` add the matching action buttons (see setActions);
 * `mentionsMe` highlights a message that mentions the viewer.
 * The row keeps the message id in data-id so edits and deletes find it.
 */
export function messageNode(msg, { mine = false, canEdit = false, canDelete = false, mentionsMe = false } = {}) {
  const body = el('div', { className: 'msg-text' });
  appendMessageText(body, msg.message);
  const time = el('time', {
    className: 'msg-time',
    text: formatTime(msg.timestamp),
    attrs: { datetime: msg.timestamp, title: fullFormat.format(new Date(msg.timestamp)) },
  });
  const head = el('div', { className: 'msg-head' }, el('span', { className: 'msg-author', text: msg.user }), time);
  // Said to screen readers too: the highlight is only a colour.
  const mention = mentionsMe ? el('span', { className: 'visually-hidden', text: 'Mentions you. ' }) : null;
  // Files only cost the rows that have them (a big room's rows are built while scrolling).
  const files = msg.attachments && msg.attachments.length ? attachmentsNode(msg.attachments) : null;
  const bubble = el('div', { className: 'msg-bubble' }, head, mention, body, files);
  const node = el('div', { className: mine ? 'msg mine' : 'msg', dataset: { id: msg.id } }, avatar(msg.user), bubble);
  node.classList.toggle('mentions-me', mentionsMe);
  if (msg.editedAt) markEdited(node, msg);
  setActions(node, { canEdit, canDelete });
  return node;
}

/**
 * (Re)build the row's action buttons (react, and edit / delete when
 * allowed): shown on hover or keyboard focus (and
 * on a tap on touch screens, see style.css); the chat view handles their
 * clicks by `data-action`.
 */
export function setActions(node, { canEdit, canDelete }) {
  const bubble = node.querySelector('.msg-bubble');
  const old = bubble.querySelector(':scope > .msg-actions');
  if (old) old.remove();
  // Everyone who sees a message may react to it.
  bubble.append(el('div', { className: 'msg-actions' },
    actionButton('react', 'Add reaction', ICONS.smile),
    canEdit ? actionButton('edit', 'Edit message', ICONS.edit) : null,
    canDelete ? actionButton('delete', 'Delete message', ICONS.trash) : null));
}

function actionButton(action, label, path) {
  return el('button', {
    type: 'button',
    className: `msg-action ${action}`,
    dataset: { action },
    attrs: { 'aria-label': label, title: label },
  }, icon(path, 16));
}

/** Replace the text of an edited message in place. */
export function updateMessageNode(node, msg) {
  const body = node.querySelector('.msg-text');
  body.replaceChildren();
  appendMessageText(body, msg.message);
  if (msg.editedAt) markEdited(node, msg);
}

function markEdited(node, msg) {
  node.classList.add('edited');
  let mark = node.querySelector('.msg-edited');
  if (!mark) {
    mark = el('span', { className: 'msg-edited', text: '(edited)' });
    node.querySelector('.msg-head').append(mark);
  }
  const d = new Date(msg.editedAt);
  if (!Number.isNaN(d.getTime())) mark.title = `Edited ${fullFormat.format(d)}`;
}

/**
 * Set the grouping decoration of `node` (message `msg`) given the message
 * before it: a day divider when the day changes, and a compact row when the
 * same author continues within GROUP_GAP_MS.
 */
export function decorate(node, msg, prev) {
  const newDay = !prev || dayKey(prev.timestamp) !== dayKey(msg.timestamp);
  const continued = !newDay && prev.userId === msg.userId &&
    new Date(msg.timestamp) - new Date(prev.timestamp) < GROUP_GAP_MS;
  node.classList.toggle('continued', continued);
  const divider = node.querySelector(':scope > .day-divider');
  if (newDay && !divider) {
    node.prepend(el('div', { className: 'day-divider', attrs: { role: 'separator' } }, el('span', { text: dayLabel(msg.timestamp) })));
  } else if (!newDay && divider) {
    divider.remove();
  }
}
