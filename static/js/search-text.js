// A search result's text with the matched words marked. The server gives
// the matches as [start, end) offsets in UTF-16 code units, which are
// JavaScript's string indexes, so they slice the text as they are. The
// text is a user's: it becomes text nodes and <mark> elements, never HTML.

import { el } from './dom.js';

/** Longer texts are cut to this many code units around the first match... */
const SNIPPET_CHARS = 280;
/** ...starting this far before it, so the match is read in its sentence. */
const CONTEXT_BEFORE = 60;
const ELLIPSIS = '…';

const isLowSurrogate = (code) => code >= 0xdc00 && code <= 0xdfff;
const isHighSurrogate = (code) => code >= 0xd800 && code <= 0xdbff;

/** The ranges that fit the text, ascending and apart (a bad range is skipped, not trusted). */
function validRanges(text, highlights) {
  const ranges = [];
  let pos = 0;
  for (const range of Array.isArray(highlights) ? highlights : []) {
    if (!Array.isArray(range)) continue;
    const [start, end] = range;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < pos || end <= start) continue;
    const cut = Math.min(end, text.length);
    if (cut <= start) break;
    ranges.push([start, cut]);
    pos = cut;
  }
  return ranges;
}

/** The [from, to) part of `text` shown: all of it when short, else a window from just before the first match. */
function snippetBounds(text, ranges) {
  if (text.length <= SNIPPET_CHARS) return [0, text.length];
  let from = ranges.length ? Math.max(0, ranges[0][0] - CONTEXT_BEFORE) : 0;
  // Never half a character (an emoji is two code units).
  if (from > 0 && isLowSurrogate(text.charCodeAt(from))) from -= 1;
  let to = Math.min(text.length, from + SNIPPET_CHARS);
  if (to < text.length && isHighSurrogate(text.charCodeAt(to - 1))) to -= 1;
  return [from, to];
}

/**
 * The nodes showing `text` (cut to a snippet when long) with each of
 * `highlights` wrapped in <mark>.
 */
export function markedText(text, highlights) {
  const value = typeof text === 'string' ? text : '';
  const ranges = validRanges(value, highlights);
  const [from, to] = snippetBounds(value, ranges);
  const nodes = [];
  if (from > 0) nodes.push(ELLIPSIS);
  let pos = from;
  for (const [start, end] of ranges) {
    if (end <= from) continue;
    if (start >= to) break;
    const a = Math.max(start, from);
    const b = Math.min(end, to);
    if (a > pos) nodes.push(value.slice(pos, a));
    nodes.push(el('mark', { text: value.slice(a, b) }));
    pos = b;
  }
  if (pos < to) nodes.push(value.slice(pos, to));
  if (to < value.length) nodes.push(ELLIPSIS);
  return nodes.map((n) => (typeof n === 'string' ? document.createTextNode(n) : n));
}
