// Files in the composer: the attach button (a file chooser, several files
// at once), files dropped onto the conversation (a drop target shows while
// they are dragged over it) and pictures pasted into the message box. Each
// file uploads at once (uploads.js) and shows as a chip above the box: its
// name, size, a progress bar, and a button that cancels the upload or takes
// the finished file back. Send takes the finished files with the message;
// while one still uploads, Send says to wait (and why) instead.

import { el, icon, ICONS } from '../dom.js';
import { describeUploadError } from '../errors.js';
import { FILE_ICONS, formatSize, kindOf } from '../file-kinds.js';
import { MAX_ATTACHMENTS } from '../uploads.js';

/** Errors after which trying the same file again may work. */
const RETRIABLE = new Set(['network', 'rate_limited', 'request_timeout', 'timeout', 'busy', 'internal']);

/**
 * `form`, `input` and `sendBtn` are the composer's; `area` is the
 * conversation (where files may be dropped); `getRoomId()` the open room;
 * `showError(text)` says what went wrong under the composer.
 */
export function mountComposerFiles({ session, form, input, sendBtn, area, getRoomId, getRoomName, showError }) {
  const uploads = session.uploads;
  const picker = el('input', { type: 'file', multiple: true, hidden: true, attrs: { tabindex: '-1', 'aria-hidden': 'true' } });
  const attach = el('button', {
    type: 'button', className: 'attach-btn', attrs: { 'aria-label': 'Attach files', title: 'Attach files (or drop them here, or paste a picture)' },
  }, icon(FILE_ICONS.paperclip));
  const list = el('ul', { className: 'upload-list', attrs: { 'aria-label': 'Files to send' } });
  const status = el('p', { id: 'upload-status', className: 'upload-status', attrs: { role: 'status' } });
  list.hidden = true;
  form.prepend(list, status);
  sendBtn.before(attach, picker);
  const drop = el('div', { className: 'drop-target', attrs: { 'aria-hidden': 'true' } }, el('p', { className: 'drop-target-text' }));
  drop.hidden = true;
  area.append(drop);

  /** key -> chip of the open room's uploads. */
  const chips = new Map();

  function addFiles(files) {
    const roomId = getRoomId();
    if (!roomId || !files.length) return;
    const room = uploads.forRoom(roomId).length;
    const take = [...files].slice(0, Math.max(0, MAX_ATTACHMENTS - room));
    const left = files.length - take.length;
    if (left) showError(`A message carries at most ${MAX_ATTACHMENTS} files: ${left} ${left === 1 ? 'was' : 'were'} left out.`);
    for (const f of take) uploads.add(roomId, f, nameOf(f));
  }

  function chip(item) {
    const progress = el('progress', { className: 'upload-progress', max: Math.max(1, item.size), value: item.sent,
      attrs: { 'aria-label': `Uploading ${item.name}` } });
    const state = el('span', { className: 'upload-state' });
    const retry = el('button', { type: 'button', className: 'btn small upload-retry', text: 'Retry', dataset: { action: 'retry' },
      attrs: { 'aria-label': `Retry uploading ${item.name}` } });
    const remove = el('button', { type: 'button', className: 'icon-btn upload-remove', dataset: { action: 'remove' } }, icon(ICONS.close, 16));
    const node = el('li', { className: 'upload-chip', dataset: { key: item.key } },
      el('span', { className: 'upload-icon' }, icon(kindOf(item.type).icon, 18)),
      el('span', { className: 'upload-info' },
        el('span', { className: 'upload-name', text: item.name, attrs: { title: item.name } }),
        el('span', { className: 'upload-size', text: formatSize(item.size) }),
        progress, state),
      retry, remove);
    node.refs = { progress, state, retry, remove };
    return node;
  }

  function paint(node, item) {
    const { progress, state, retry, remove } = node.refs;
    node.dataset.state = item.state;
    progress.hidden = item.state !== 'uploading';
    progress.value = item.sent;
    const pct = item.size ? Math.floor((item.sent / item.size) * 100) : 0;
    state.textContent = item.state === 'uploading' ? `${pct}%`
      : item.state === 'done' ? 'Ready' : describeUploadError(item.error);
    retry.hidden = !(item.state === 'failed' && RETRIABLE.has(item.error && item.error.code));
    const label = item.state === 'uploading' ? `Cancel upload of ${item.name}` : `Remove ${item.name}`;
    remove.setAttribute('aria-label', label);
    remove.title = label;
  }

  function render() {
    const roomId = getRoomId();
    const items = roomId ? uploads.forRoom(roomId) : [];
    const keep = new Set(items.map((i) => i.key));
    for (const [key, node] of chips) {
      if (!keep.has(key)) {
        node.remove();
        chips.delete(key);
      }
    }
    for (const item of items) {
      let node = chips.get(item.key);
      if (!node) {
        node = chip(item);
        chips.set(item.key, node);
        list.append(node);
      }
      paint(node, item);
    }
    list.hidden = items.length === 0;
    const { running, failed, ready } = roomId ? uploads.status(roomId) : { running: 0, failed: 0, ready: [] };
    const wait = waitReason(running, failed);
    if (wait) {
      sendBtn.setAttribute('aria-disabled', 'true');
      sendBtn.title = wait;
    } else {
      sendBtn.removeAttribute('aria-disabled');
      sendBtn.removeAttribute('title');
    }
    // Said to screen readers as it changes (role=status): uploading, then ready.
    const n = ready.length;
    status.textContent = running ? `Uploading ${running} file${running === 1 ? '' : 's'}… Send waits until ${running === 1 ? 'it is' : 'they are'} done.`
      : n ? `${n === 1 ? '1 file' : `${n} files`} ready to send.` : '';
  }

  function waitReason(running, failed) {
    if (running) return `Wait: ${running === 1 ? 'a file is' : `${running} files are`} still uploading.`;
    if (failed) return 'A file could not be uploaded: retry it or remove it first.';
    return '';
  }

  uploads.addEventListener('change', (ev) => {
    const { roomId, item } = ev.detail;
    if (roomId !== getRoomId()) return;
    render();
    if (!item) return;
    if (item.state === 'failed' && chips.has(item.key)) showError(`“${item.name}”: ${describeUploadError(item.error)}`);
  });
  uploads.addEventListener('progress', (ev) => {
    const node = chips.get(ev.detail.item.key);
    if (node) paint(node, ev.detail.item);
  });

  list.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-action]');
    const node = btn && btn.closest('.upload-chip');
    if (!node) return;
    if (btn.dataset.action === 'retry') {
      uploads.retry(node.dataset.key);
      return;
    }
    // The keyboard goes on to the next chip, or back to the message box.
    const after = node.nextElementSibling || node.previousElementSibling;
    uploads.remove(node.dataset.key);
    const to = after && after.isConnected ? after.querySelector('.upload-remove') : input;
    to.focus();
  });

  attach.addEventListener('click', () => picker.click());
  picker.addEventListener('change', () => {
    addFiles(picker.files);
    picker.value = '';
    input.focus();
  });

  // Pasting a picture (a screenshot, an image copied from a page) attaches it; text pastes as ever.
  input.addEventListener('paste', (ev) => {
    const data = ev.clipboardData;
    const files = data ? [...data.files] : [];
    if (!files.length) return;
    if (!data.types.includes('text/plain')) ev.preventDefault();
    addFiles(files);
  });

  // Dragging files over the conversation shows where they go; elsewhere nothing changes.
  let depth = 0;
  const hasFiles = (ev) => Boolean(ev.dataTransfer) && [...ev.dataTransfer.types].includes('Files');
  const hide = () => {
    depth = 0;
    drop.hidden = true;
  };
  area.addEventListener('dragenter', (ev) => {
    if (!hasFiles(ev) || !getRoomId()) return;
    ev.preventDefault();
    depth += 1;
    drop.firstChild.textContent = `Drop files to send them to ${getRoomName()}`;
    drop.hidden = false;
  });
  area.addEventListener('dragover', (ev) => {
    if (!hasFiles(ev) || !getRoomId()) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = 'copy';
  });
  area.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) hide();
  });
  area.addEventListener('drop', (ev) => {
    hide();
    if (!hasFiles(ev) || !getRoomId()) return;
    ev.preventDefault();
    addFiles(ev.dataTransfer.files);
    input.focus({ preventScroll: true });
  });
  window.addEventListener('dragend', hide);
  // A file dropped beside the conversation must not replace the page with it.
  window.addEventListener('dragover', (ev) => { if (hasFiles(ev)) ev.preventDefault(); });
  window.addEventListener('drop', (ev) => { if (hasFiles(ev)) ev.preventDefault(); });

  session.addEventListener('room-dropped', (ev) => uploads.clear(ev.detail.roomId));

  return {
    /** Draw the open room's uploads (after a room switch). */
    render,
    /** What a send takes: the finished files' records, or why it must wait. */
    forSend() {
      const roomId = getRoomId();
      const { running, failed } = uploads.status(roomId);
      const files = uploads.forRoom(roomId).filter((i) => i.state === 'done').map((i) => i.record);
      return { files, wait: waitReason(running, failed) };
    },
    /** The message with these files was sent (or queued): their chips go. */
    sent(roomId, files) {
      uploads.sent(roomId, files.map((f) => f.id));
    },
  };
}

/** A pasted picture comes named "image.png": give it a name that says when. */
function nameOf(file) {
  const name = file.name || '';
  if (name && name !== 'image.png') return name;
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  const ext = (file.type.split('/')[1] || 'png').replace('jpeg', 'jpg');
  return `pasted-${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}.${ext}`;
}
