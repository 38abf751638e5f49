// The files of a message (its `attachments`): pictures as thumbnails in the
// size they will have (so the log does not jump when they load), opened
// full size in the lightbox (lightbox.js); other files as a card with an
// icon for their kind, the name, the size and a download link. Addresses
// are signed links (file-links.js), asked for as the rows are built; only
// a message with files costs anything here.

import { el, icon } from '../dom.js';
import { FILE_ICONS, formatSize, isPicture, kindOf } from '../file-kinds.js';

/** A thumbnail fits this box (CSS pixels), keeping the image's proportions. */
const THUMB_W = 320;
const THUMB_H = 240;
/** ...and is drawn in this one when the image's size is unknown. */
const UNKNOWN_SIZE = [240, 180];

/** The FileLinks of the session (set once it exists). */
let links = null;

export function useFileLinks(fileLinks) {
  links = fileLinks;
}

/** The width and height a picture's thumbnail takes: its own, scaled down into the box. */
export function thumbSize(a) {
  const w = Number(a.width);
  const h = Number(a.height);
  if (!(w > 0 && h > 0)) return UNKNOWN_SIZE;
  const scale = Math.min(1, THUMB_W / w, THUMB_H / h);
  return [Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale))];
}

/** The box holding a message's files. */
export function attachmentsNode(attachments) {
  const pictures = attachments.filter(isPicture);
  const others = attachments.filter((a) => !isPicture(a));
  return el('div', { className: 'msg-attachments' },
    pictures.length ? el('div', { className: 'att-gallery' }, pictures.map(thumbnail)) : null,
    others.map(card));
}

function thumbnail(a) {
  const [width, height] = thumbSize(a);
  const img = el('img', { className: 'att-img', alt: a.name, width, height, decoding: 'async' });
  withLink(a.id, img, (link) => link.thumbnailUrl, (url) => { img.src = url; });
  return el('button', {
    type: 'button',
    className: 'att-thumb',
    dataset: { fileId: a.id },
    attrs: { 'aria-haspopup': 'dialog', title: `${a.name} (${formatSize(a.size)}): open full size` },
  }, img);
}

function card(a) {
  const kind = kindOf(a.type);
  const size = formatSize(a.size);
  const download = el('a', {
    className: 'btn small att-download',
    // The bare address needs the token: it is replaced by the signed link before any use.
    href: a.url || `/api/files/${encodeURIComponent(a.id)}`,
    attrs: { download: a.name, 'aria-label': `Download ${a.name} (${size})` },
  }, icon(FILE_ICONS.download, 16), el('span', { text: 'Download' }));
  withLink(a.id, download, (link) => link.url, (url) => { download.href = url; });
  download.addEventListener('click', (ev) => followFresh(ev, a.id, download));
  return el('div', { className: 'att-card', dataset: { fileId: a.id } },
    el('span', { className: 'att-icon' }, icon(kind.icon, 22)),
    el('span', { className: 'att-info' },
      el('span', { className: 'att-name', text: a.name, attrs: { title: a.name } }),
      el('span', { className: 'att-meta', text: `${kind.label} · ${size}` })),
    download);
}

/**
 * Give `node` its signed address (`pick(link)`, set with `apply`) once
 * known; an image whose link stopped working (expired while the page
 * slept) asks once for a fresh one.
 */
function withLink(id, node, pick, apply) {
  if (!links) return;
  const cached = links.fresh(id);
  if (cached && pick(cached)) apply(pick(cached));
  else links.get(id).then((link) => { if (link && pick(link)) apply(pick(link)); });
  if (node.tagName !== 'IMG') return;
  node.addEventListener('error', () => {
    if (node.dataset.retried) return;
    node.dataset.retried = '1';
    links.get(id, { force: true }).then((link) => { if (link && pick(link)) apply(pick(link)); });
  });
}

/** A download whose link is about to expire (an old page) follows a fresh one instead. */
function followFresh(ev, id, anchor) {
  if (!links || links.fresh(id)) return;
  ev.preventDefault();
  links.get(id).then((link) => {
    if (!link) return;
    anchor.href = link.url;
    anchor.click();
  });
}

/** The pictures of `messages` (oldest first), as the lightbox goes through them. */
export function picturesOf(messages) {
  const out = [];
  for (const m of messages) if (m.attachments) for (const a of m.attachments) if (isPicture(a)) out.push(a);
  return out;
}
