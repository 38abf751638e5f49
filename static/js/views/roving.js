// A list that is one Tab stop (a "roving tabindex"): of its items only one
// is in the Tab order, the arrow keys move between them and the usual keys
// of the item (Enter, Space for a button) act on it. With a long room list
// the keyboard reaches what comes after it in one press instead of fifty.

/**
 * `container` holds the items; `items()` lists them in order (those shown);
 * `home()` is the item that is the stop while the keyboard is elsewhere
 * (e.g. the open room), else the first one is. The items may be rebuilt at
 * any time: the stop is set again after every change under `container`.
 * `keys` are moveAmong's: Up and Down for a list, Left and Right for a toolbar.
 */
export function mountRoving({ container, items, home, keys = { back: 'ArrowUp', forth: 'ArrowDown', wrap: false } }) {
  /** The item that had the keyboard last, while it still has it. */
  let focused = null;

  function refresh() {
    const all = items();
    const stop = (focused && all.includes(focused) && focused) || home() || all[0];
    for (const item of all) {
      const index = item === stop ? '0' : '-1';
      if (item.getAttribute('tabindex') !== index) item.setAttribute('tabindex', index);
    }
  }

  container.addEventListener('focusin', (ev) => {
    if (!items().includes(ev.target)) return;
    focused = ev.target;
    refresh();
  });
  container.addEventListener('focusout', (ev) => {
    if (ev.target !== focused || items().includes(ev.relatedTarget)) return;
    // The keyboard left the list: it comes back to the open room.
    focused = null;
    refresh();
  });
  container.addEventListener('keydown', (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    moveAmong(items(), ev, keys);
  });

  // Rebuilt, shown or hidden items: one stop again, before anyone can press Tab.
  new MutationObserver(refresh).observe(container, {
    childList: true, subtree: true, attributes: true, attributeFilter: ['hidden', 'aria-current'],
  });
  refresh();
  return { refresh };
}

/**
 * Move the keyboard along `items` as the key of `ev` says: `back` / `forth`
 * one step (round the ends with `wrap`), Home / End to the ends. Nothing
 * happens unless an item has the keyboard; true when the key was used.
 */
export function moveAmong(items, ev, { back = 'ArrowLeft', forth = 'ArrowRight', wrap = true } = {}) {
  const i = items.indexOf(document.activeElement);
  const to = i < 0 ? undefined : { [forth]: i + 1, [back]: i - 1, Home: 0, End: items.length - 1 }[ev.key];
  if (to === undefined) return false;
  ev.preventDefault();
  const n = items.length;
  items[wrap ? (to + n) % n : Math.max(0, Math.min(n - 1, to))].focus();
  return true;
}
