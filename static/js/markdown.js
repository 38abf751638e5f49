// A small, safe subset of Markdown for message text: `code`, fenced code
// blocks, **bold**, _italic_ / *italic* and ~~strike~~. The parser only
// returns a tree of plain objects; render.js turns it into DOM nodes with
// text nodes, so no markup from a message ever reaches the page as HTML.
//
// Tree: an array of blocks, each {type: 'code-block', text} or
// {type: 'inline', children}; inline nodes are {type: 'text', text},
// {type: 'code', text} or {type: 'strong' | 'em' | 'del', children}.

const FENCE_OPEN = /^ {0,3}```[^`]*$/;
const FENCE_CLOSE = /^ {0,3}```\s*$/;
// URLs and @mentions are kept whole, so a marker inside them ("_" in a
// path, a username) never turns into emphasis and the link stays intact.
const ATOM = /\bhttps?:\/\/[^\s<>"]+|@[\w.-]+/gy;
const ATOM_TRAILING = /[.,;:!?'")\]}>*_~]+$/;
const SPACE = /\s/u;
const MARKERS = /[*_~`]/;
const PUNCT = /[\p{P}\p{S}]/u;

/** Parse message text into blocks (see the top of this file). */
export function parseMarkdown(text) {
  // Most messages have no marker at all: skip the work (big rooms render thousands).
  if (!MARKERS.test(text)) return [{ type: 'inline', children: [{ type: 'text', text }] }];
  const lines = text.split('\n');
  const blocks = [];
  let plain = [];
  const flush = () => {
    if (plain.length) blocks.push({ type: 'inline', children: parseInline(plain.join('\n')) });
    plain = [];
  };
  // nextClose[i]: the first closing fence after line i (one pass, so many fences stay cheap).
  const nextClose = new Array(lines.length).fill(-1);
  for (let i = lines.length - 2; i >= 0; i--) nextClose[i] = FENCE_CLOSE.test(lines[i + 1]) ? i + 1 : nextClose[i + 1];
  for (let i = 0; i < lines.length; i++) {
    const close = FENCE_OPEN.test(lines[i]) ? nextClose[i] : -1;
    if (close < 0) {
      plain.push(lines[i]);
      continue;
    }
    flush();
    blocks.push({ type: 'code-block', text: lines.slice(i + 1, close).join('\n') });
    i = close;
  }
  flush();
  return blocks;
}

/** Parse one run of text without fences into inline nodes. */
export function parseInline(text) {
  const nodes = tokenize(text);
  resolveDelimiters(nodes);
  return finish(nodes, new Set());
}

/**
 * Split into text, code spans and delimiter runs (`*`, `_`, `~~`), each
 * run knowing whether it may open or close (CommonMark's flanking rules;
 * `*` and `_` never open or close inside a word, so snake_case and 2*3*4
 * stay as written).
 */
function tokenize(text) {
  const nodes = [];
  const pushText = (t) => {
    const last = nodes[nodes.length - 1];
    if (last && last.type === 'text') last.text += t;
    else nodes.push({ type: 'text', text: t });
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '`') {
      const n = runLength(text, i, '`');
      const end = findBacktickRun(text, i + n, n);
      if (end < 0) {
        pushText('`'.repeat(n));
      } else {
        nodes.push({ type: 'code', text: text.slice(i + n, end) });
        i = end;
      }
      i += n;
      continue;
    }
    if (ch === '*' || ch === '_' || ch === '~') {
      const n = runLength(text, i, ch);
      const before = i > 0 ? text[i - 1] : ' ';
      const after = i + n < text.length ? text[i + n] : ' ';
      const left = !SPACE.test(after) && (!PUNCT.test(after) || SPACE.test(before) || PUNCT.test(before));
      const right = !SPACE.test(before) && (!PUNCT.test(before) || SPACE.test(after) || PUNCT.test(after));
      let canOpen = left;
      let canClose = right;
      if (ch !== '~') {
        canOpen = left && (!right || PUNCT.test(before));
        canClose = right && (!left || PUNCT.test(after));
      }
      if ((canOpen || canClose) && (ch !== '~' || n === 2)) {
        nodes.push({ type: 'delim', char: ch, text: ch.repeat(n), canOpen, canClose });
      } else {
        pushText(ch.repeat(n));
      }
      i += n;
      continue;
    }
    ATOM.lastIndex = i;
    const atom = (ch === 'h' || ch === '@') && (i === 0 || !/\w/.test(text[i - 1])) && ATOM.exec(text);
    if (atom) {
      const kept = atom[0].replace(ATOM_TRAILING, '') || atom[0][0];
      pushText(kept);
      i += kept.length;
      continue;
    }
    pushText(ch);
    i += 1;
  }
  return nodes;
}

function runLength(text, i, ch) {
  let n = 0;
  while (text[i + n] === ch) n += 1;
  return n;
}

/** Where the next run of exactly `n` backticks starts, or -1. */
function findBacktickRun(text, from, n) {
  for (let j = text.indexOf('`', from); j >= 0; j = text.indexOf('`', j)) {
    const m = runLength(text, j, '`');
    if (m === n) return j;
    j += m;
  }
  return -1;
}

/**
 * Pair closers with the nearest opener of the same character and wrap
 * what lies between into strong / em / del nodes, in place. Unpaired runs
 * stay literal text.
 */
function resolveDelimiters(nodes) {
  // Per character, the index at or below which no opener is left: a failed
  // search is not repeated, so a long run of closers stays linear.
  const bottom = { '*': -1, _: -1, '~': -1 };
  for (let c = 0; c < nodes.length; c++) {
    const closer = nodes[c];
    if (closer.type !== 'delim' || !closer.canClose) continue;
    while (closer.text) {
      let o = c - 1;
      while (o > bottom[closer.char] && !(nodes[o].type === 'delim' && nodes[o].canOpen && nodes[o].char === closer.char && nodes[o].text)) o -= 1;
      if (o <= bottom[closer.char]) {
        bottom[closer.char] = closer.canOpen ? c - 1 : c;
        break;
      }
      const opener = nodes[o];
      const use = opener.text.length >= 2 && closer.text.length >= 2 ? 2 : 1;
      const type = closer.char === '~' ? 'del' : use === 2 ? 'strong' : 'em';
      opener.text = opener.text.slice(use);
      closer.text = closer.text.slice(use);
      // Runs between the pair can no longer pair outside it.
      const inner = nodes.splice(o + 1, c - o - 1).map((n) => (n.type === 'delim' ? { type: 'text', text: n.text } : n));
      nodes.splice(o + 1, 0, { type, children: inner });
      c = o + 2;
    }
  }
}

/** Turn leftover runs into text, merge neighbouring text and drop a style nested in itself. */
function finish(nodes, outer) {
  const out = [];
  const pushText = (t) => {
    if (!t) return;
    const last = out[out.length - 1];
    if (last && last.type === 'text') last.text += t;
    else out.push({ type: 'text', text: t });
  };
  for (const n of nodes) {
    if (n.type === 'text' || n.type === 'delim') {
      pushText(n.text);
    } else if (n.type === 'code') {
      out.push(n);
    } else if (outer.has(n.type)) {
      for (const child of finish(n.children, outer)) {
        if (child.type === 'text') pushText(child.text);
        else out.push(child);
      }
    } else {
      out.push({ type: n.type, children: finish(n.children, new Set([...outer, n.type])) });
    }
  }
  return out;
}
