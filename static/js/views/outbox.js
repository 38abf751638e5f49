// What waits in the outbox (outbox.js): under the open room's messages,
// one row per queued message, in the order they will be sent, each saying
// where it stands; and, when the page opens without the server, the
// "offline" screen listing what waits.

import { byId, el } from '../dom.js';
import { storedOutbox } from '../outbox.js';
import { avatar } from '../render.js';

const STATUS = {
  queued: 'Waiting for the connection',
  sending: 'Sending…',
  failed: 'Not sent',
};

/** Within this distance of the bottom the log follows new rows. */
const FOLLOW_PX = 80;

/** `toBottom()` brings the newest messages onto the page and scrolls to the end. */
export function mountOutbox({ session, getRoomId, toBottom }) {
  const scroller = byId('log-scroll');
  // Beside the message log, not in it: that list is the server's history.
  // Last in the scroller, after what stands for the rows off the page too:
  // what waits comes after the newest message, wherever the reader is.
  const list = el('ol', { id: 'outbox-log', className: 'outbox-log', attrs: { 'aria-label': 'Messages waiting to be sent' } });
  list.hidden = true;
  scroller.append(list);

  function row(e) {
    const status = e.state === 'failed' && e.error ? `${STATUS.failed}: ${e.error}` : STATUS[e.state] || e.state;
    const actions = e.state !== 'failed' ? null : el('span', { className: 'outbox-actions' },
      el('button', { type: 'button', className: 'btn small', text: 'Retry', dataset: { action: 'retry', id: e.clientId } }),
      el('button', { type: 'button', className: 'btn small ghost', text: 'Discard', dataset: { action: 'discard', id: e.clientId } }));
    const head = el('div', { className: 'msg-head' },
      el('span', { className: 'msg-author', text: session.me.username }),
      el('span', { className: 'msg-status', text: status }));
    const files = e.files ? el('p', { className: 'outbox-files', text: filesLine(e.files) }) : null;
    const bubble = el('div', { className: 'msg-bubble' }, head, el('div', { className: 'msg-text', text: e.text }), files, actions);
    return el('li', { className: `msg mine pending ${e.state}`, dataset: { clientId: e.clientId } }, avatar(session.me.username), bubble);
  }

  function render() {
    const roomId = getRoomId();
    const entries = roomId ? session.outbox.forRoom(roomId) : [];
    const follow = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < FOLLOW_PX;
    const grew = entries.length > list.childElementCount;
    list.replaceChildren(...entries.map(row));
    list.hidden = entries.length === 0;
    if (grew) toBottom();
    else if (follow) scroller.scrollTop = scroller.scrollHeight;
  }

  list.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-action]');
    if (!btn) return;
    if (btn.dataset.action === 'retry') session.outbox.retry(btn.dataset.id);
    else session.outbox.discard(btn.dataset.id);
  });
  session.addEventListener('outbox', (ev) => { if (ev.detail.roomId === getRoomId()) render(); });
  // The log redraws on a room switch or reload; the rows stay after it.
  session.addEventListener('reset', (ev) => { if (ev.detail.roomId === getRoomId()) render(); });

  return { show: render };
}

/**
 * The start-up screen while the server cannot be reached: say "offline"
 * and list what waits to be sent (from the tab's storage), by room.
 */
export function showOfflineQueue() {
  const { entries } = storedOutbox();
  let box = document.getElementById('splash-outbox');
  if (!box) {
    box = el('section', { id: 'splash-outbox', className: 'splash-outbox', attrs: { 'aria-labelledby': 'splash-outbox-title' } });
    byId('splash').append(box);
  }
  box.hidden = entries.length === 0;
  if (!entries.length) return;
  const title = entries.length === 1 ? '1 message waits to be sent' : `${entries.length} messages wait to be sent`;
  box.replaceChildren(
    el('h2', { id: 'splash-outbox-title', text: title }),
    el('ol', { className: 'splash-outbox-list' }, entries.map((e) => el('li', {},
      el('span', { className: 'splash-outbox-room', text: e.roomName ? `#${e.roomName}` : '' }),
      el('span', { className: 'msg-text', text: e.text }),
      e.files ? el('span', { className: 'outbox-files', text: filesLine(e.files) }) : null))),
    el('p', { className: 'hint', text: 'They will be sent as soon as the server answers.' }));
}

/** "With 2 files: a.png, b.pdf" for a queued message's uploaded files. */
function filesLine(files) {
  const n = files.length;
  return `With ${n === 1 ? 'a file' : `${n} files`}: ${files.map((f) => f.name).join(', ')}`;
}
