// The open room's name and description are cut to one line in the header.
// When either is cut, it gets a tooltip with the whole text, and the title
// block becomes one Tab stop that, focused, shows both in full (style.css,
// .chat-title:focus). Uncut, it is no stop at all. The chat view sets the
// texts; this follows them and the header's width.

import { byId } from '../dom.js';

const isCut = (node) => !node.hidden && node.scrollWidth > node.clientWidth;

export function mountHeaderOverflow() {
  const title = byId('room-title');
  const desc = byId('room-desc');
  const box = title.closest('.chat-title');

  function update() {
    // Shown in full while focused: nothing is cut then, but the stop must stay.
    const focused = document.activeElement === box;
    for (const node of [title, desc]) {
      const cut = !focused && isCut(node);
      if (cut) node.title = node.textContent;
      else if (!focused) node.removeAttribute('title');
    }
    if (focused || isCut(title) || isCut(desc)) box.tabIndex = 0;
    else box.removeAttribute('tabindex');
  }

  const texts = { childList: true, characterData: true, subtree: true, attributes: true, attributeFilter: ['hidden'] };
  const watch = new MutationObserver(update);
  watch.observe(title, texts);
  watch.observe(desc, texts);
  new ResizeObserver(update).observe(box);
  box.addEventListener('blur', () => requestAnimationFrame(update));
}
