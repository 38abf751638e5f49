// One accessible confirmation dialog for every destructive action (delete a
// message or a room, leave a room, disable a user). It runs the action
// itself, so a refusal from the server is shown where the user is looking,
// and the dialog only closes once the action is done.

import { byId } from '../dom.js';
import { describeError } from '../errors.js';

/** Quoted text (a message being deleted) is cut to this many characters. */
const QUOTE_MAX_CHARS = 280;

let ui = null;
/** The request on screen: {resolve, action, opener, focusAfter, done, busy}. */
let active = null;

function setup() {
  ui = {
    dialog: byId('confirm-dialog'),
    form: byId('confirm-form'),
    title: byId('confirm-title'),
    text: byId('confirm-text'),
    quote: byId('confirm-quote'),
    error: byId('confirm-error'),
    ok: byId('confirm-ok'),
    cancel: byId('confirm-cancel'),
  };
  ui.cancel.addEventListener('click', () => ui.dialog.close());
  // Escape, Cancel and a finished action all end here.
  ui.dialog.addEventListener('close', () => {
    if (!ui.dialog.open) finish();
  });
  ui.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    run();
  });
}

const visible = (node) => Boolean(node) && node.isConnected && node.getClientRects().length > 0;

/**
 * Ask before doing something that cannot be undone. `action` is async; it
 * runs on confirmation and the dialog shows its error, if any. Resolves
 * true once the action succeeded, false when cancelled. Focus goes back to
 * the control that opened the dialog, or after success to `focusAfter()`
 * when given (the opener may be gone with what it acted on).
 */
export function confirmAction({ title, text, quote = '', confirmLabel, action, focusAfter = null }) {
  if (!ui) setup();
  if (active) settle(active, false);
  ui.title.textContent = title;
  ui.text.textContent = text;
  const cut = [...quote];
  ui.quote.textContent = cut.length > QUOTE_MAX_CHARS ? `${cut.slice(0, QUOTE_MAX_CHARS).join('')}…` : quote;
  ui.quote.hidden = !quote;
  ui.ok.textContent = confirmLabel;
  ui.ok.disabled = false;
  ui.error.textContent = '';
  ui.dialog.removeAttribute('aria-busy');
  return new Promise((resolve) => {
    active = { resolve, action, opener: document.activeElement, focusAfter, done: false, busy: false };
    if (!ui.dialog.open) ui.dialog.showModal();
    // The safe choice has the focus: Enter alone never destroys anything.
    ui.cancel.focus();
  });
}

async function run() {
  const a = active;
  if (!a || a.busy) return;
  a.busy = true;
  ui.ok.disabled = true;
  ui.error.textContent = '';
  ui.dialog.setAttribute('aria-busy', 'true');
  try {
    await a.action();
    a.done = true;
    if (active === a) ui.dialog.close();
  } catch (err) {
    if (active === a) {
      ui.error.textContent = describeError(err);
      ui.ok.focus();
    }
  } finally {
    a.busy = false;
    if (active === a) {
      ui.ok.disabled = false;
      ui.dialog.removeAttribute('aria-busy');
    }
  }
}

function settle(a, done) {
  if (active === a) active = null;
  a.resolve(done);
}

function finish() {
  const a = active;
  if (!a) return;
  settle(a, a.done);
  const after = a.done && a.focusAfter ? a.focusAfter() : null;
  const target = visible(after) ? after : visible(a.opener) ? a.opener : null;
  if (target) target.focus();
}
