// The page's first Tab stop: "Skip to message box" when a room is open,
// else to the main content of what is shown (the log-in form, the room
// list). Its href (#composer-input) is the target without scripts; a
// fragment link does not focus a text box everywhere, so this does.

import { byId } from '../dom.js';

const shown = (node) => Boolean(node) && node.getClientRects().length > 0;

export function mountSkipLink() {
  const link = document.querySelector('.skip-link');
  if (!link) return;

  /** Where the link goes now, and what it says. */
  function target() {
    const composer = byId('composer-input');
    if (shown(composer)) return { node: composer, text: 'Skip to message box' };
    const candidates = [byId('auth-username'), document.querySelector('#sidebar [tabindex="0"]'), byId('new-room-btn')];
    return { node: candidates.find(shown) || null, text: 'Skip to main content' };
  }

  link.addEventListener('focus', () => { link.textContent = target().text; });
  link.addEventListener('click', (ev) => {
    const { node } = target();
    if (!node) return;
    ev.preventDefault();
    node.focus();
  });
}
