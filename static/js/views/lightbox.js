// A picture of the room at full size (the original, through its signed
// link), over the page in a modal dialog: Left / Right (or the buttons) go
// to the room's previous / next picture, Escape (or Close) ends it and the
// keyboard goes back to the thumbnail it came from.

import { el, icon, ICONS } from '../dom.js';
import { FILE_ICONS, formatSize } from '../file-kinds.js';

/**
 * `log` holds the thumbnails (.att-thumb buttons with data-file-id),
 * `getPictures()` lists the attachments to go through (the open room's
 * loaded pictures, in order), `links` gives their signed addresses,
 * `fallbackFocus` takes the keyboard when the thumbnail is gone.
 */
export function mountLightbox({ log, getPictures, links, fallbackFocus }) {
  const img = el('img', { className: 'lightbox-img', alt: '' });
  const title = el('h2', { id: 'lightbox-title', className: 'lightbox-title' });
  const count = el('span', { className: 'lightbox-count' });
  const status = el('p', { className: 'lightbox-status muted', attrs: { role: 'status' } });
  const button = (label, path, cls) => el('button', {
    type: 'button', className: `icon-btn ${cls}`, attrs: { 'aria-label': label, title: label },
  }, icon(path));
  const prev = button('Previous picture', FILE_ICONS.prev, 'lightbox-prev');
  const next = button('Next picture', FILE_ICONS.next, 'lightbox-next');
  const close = button('Close', ICONS.close, 'lightbox-close');
  const download = el('a', { className: 'btn small lightbox-download', href: '#' },
    icon(FILE_ICONS.download, 16), el('span', { text: 'Download original' }));
  const dialog = el('dialog', {
    className: 'lightbox',
    attrs: { 'aria-labelledby': 'lightbox-title', 'aria-describedby': 'lightbox-help' },
  },
  el('div', { className: 'lightbox-head' }, el('div', { className: 'lightbox-caption' }, title, count), download, close),
  el('div', { className: 'lightbox-stage' }, prev, el('figure', { className: 'lightbox-figure' }, img), next),
  status,
  el('p', { id: 'lightbox-help', className: 'visually-hidden', text: 'Left and Right arrow keys: previous and next picture. Escape closes.' }));
  document.body.append(dialog);

  let list = [];
  let index = 0;
  let opener = null;
  let showing = 0;

  function show(i) {
    if (!list.length) return;
    index = (i + list.length) % list.length;
    const a = list[index];
    const turn = ++showing;
    title.textContent = a.name;
    count.textContent = list.length > 1 ? `${index + 1} of ${list.length}` : '';
    prev.hidden = next.hidden = list.length < 2;
    img.alt = a.name;
    img.removeAttribute('src');
    // The picture's proportions hold its place while it loads.
    if (a.width > 0 && a.height > 0) {
      img.width = a.width;
      img.height = a.height;
    } else {
      img.removeAttribute('width');
      img.removeAttribute('height');
    }
    download.setAttribute('download', a.name);
    download.title = `${a.name} (${formatSize(a.size)})`;
    download.hidden = true;
    status.textContent = 'Loading…';
    links.get(a.id).then((link) => {
      if (turn !== showing) return;
      if (!link) {
        status.textContent = 'This picture cannot be shown: it may have been deleted.';
        return;
      }
      img.src = link.url;
      download.href = link.url;
      download.hidden = false;
    });
  }

  img.addEventListener('load', () => { status.textContent = ''; });
  img.addEventListener('error', () => { if (img.getAttribute('src')) status.textContent = 'The picture did not load.'; });
  prev.addEventListener('click', () => show(index - 1));
  next.addEventListener('click', () => show(index + 1));
  close.addEventListener('click', () => dialog.close());
  // A click on the dark backdrop (the dialog itself, outside its content) closes too.
  dialog.addEventListener('click', (ev) => { if (ev.target === dialog) dialog.close(); });
  dialog.addEventListener('keydown', (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight') {
      ev.preventDefault();
      show(index + (ev.key === 'ArrowLeft' ? -1 : 1));
    }
  });
  dialog.addEventListener('close', () => {
    img.removeAttribute('src');
    showing += 1;
    // Back to the picture's thumbnail: the one shown last when it is on the page, else the one opened.
    const shown = list[index];
    const thumb = shown && log.querySelector(`.att-thumb[data-file-id="${CSS.escape(shown.id)}"]`);
    const target = [thumb, opener].find((n) => n && n.isConnected) || fallbackFocus;
    target.focus();
  });

  log.addEventListener('click', (ev) => {
    const thumb = ev.target.closest('.att-thumb');
    if (!thumb || !log.contains(thumb)) return;
    list = getPictures();
    const i = list.findIndex((a) => a.id === thumb.dataset.fileId);
    if (i < 0) return;
    opener = thumb;
    dialog.showModal();
    close.focus();
    show(i);
  });

  return { get open() { return dialog.open; } };
}
