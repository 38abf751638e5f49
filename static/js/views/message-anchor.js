// The message a room was opened at (a link to it, a clicked notification):
// scrolled to the middle of the log, marked for the eye (the `anchored`
// class) and for screen readers (aria-current, and the focus, so that they
// read it first). The mark stays until the reader clicks or scrolls the log.

/** Mount on the log's scroller; returns {show(row), clear()}. */
export function mountMessageAnchor({ scroller }) {
  let marked = null;

  function clear() {
    if (!marked) return;
    marked.classList.remove('anchored');
    marked.removeAttribute('aria-current');
    marked = null;
  }

  for (const type of ['pointerdown', 'wheel', 'touchmove']) scroller.addEventListener(type, clear, { passive: true });

  return {
    /** Mark message row `row` and bring it to the middle of the view. */
    show(row) {
      clear();
      if (!row) return;
      marked = row;
      row.classList.add('anchored');
      row.setAttribute('aria-current', 'true');
      row.scrollIntoView({ block: 'center' });
      // Rows become focusable once message-keys.js sees them, which may be after this.
      if (!row.hasAttribute('tabindex')) row.tabIndex = -1;
      row.focus({ preventScroll: true });
    },
    clear,
  };
}
