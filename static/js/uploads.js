// Files on their way to a room, before the message that carries them is
// sent: each is uploaded at once (api.uploadFile), shows its progress, and
// can be cancelled while it runs or taken back once it is done. A message
// is sent with the ids of the room's finished uploads (session.send), and
// those leave the list when the server has it. The list lives as long as
// the page; a file uploaded but never sent is removed by the server a day
// later.
//
// Events (CustomEvent, detail {roomId, item}): `change` (the room's list or
// an item's state changed), `progress` (bytes went out).

import { ApiError } from './api.js';

/** A message carries at most this many files (the server's rule). */
export const MAX_ATTACHMENTS = 10;

let keys = 0;

export class Uploads extends EventTarget {
  constructor(api) {
    super();
    this.api = api;
    /** {key, roomId, file, name, size, type, sent, state: uploading|done|failed, record, error, handle} */
    this.items = [];
    /** The largest file the server takes, once it said so (bytes), so a bigger one is refused at once. */
    this.maxBytes = null;
  }

  emit(type, item) {
    this.dispatchEvent(new CustomEvent(type, { detail: { roomId: item.roomId, item } }));
  }

  forRoom(roomId) {
    return this.items.filter((i) => i.roomId === roomId);
  }

  /** Where the room's uploads stand: how many run or failed, and the finished ones' ids. */
  status(roomId) {
    const mine = this.forRoom(roomId);
    return {
      running: mine.filter((i) => i.state === 'uploading').length,
      failed: mine.filter((i) => i.state === 'failed').length,
      ready: mine.filter((i) => i.state === 'done').map((i) => i.record.id),
    };
  }

  /** Start uploading `file` to the room (named `name`, e.g. for a pasted picture). */
  add(roomId, file, name = file.name || 'file') {
    const item = {
      key: `u${++keys}`, roomId, file, name, size: file.size, type: file.type || '',
      sent: 0, state: 'uploading', record: null, error: null, handle: null,
    };
    this.items.push(item);
    this.start(item);
    return item;
  }

  start(item) {
    item.state = 'uploading';
    item.error = null;
    item.sent = 0;
    if (this.maxBytes !== null && item.size > this.maxBytes) {
      this.fail(item, new ApiError(413, 'too_large', `the file is larger than ${this.maxBytes} bytes`));
      return;
    }
    const handle = this.api.uploadFile(item.roomId, item.file, item.name, (sent) => {
      item.sent = sent;
      this.emit('progress', item);
    });
    item.handle = handle;
    this.emit('change', item);
    handle.promise.then((record) => {
      if (item.handle !== handle) return;
      item.handle = null;
      item.state = 'done';
      item.sent = item.size;
      item.record = record;
      this.emit('change', item);
    }, (err) => {
      if (item.handle !== handle) return;
      item.handle = null;
      if (err.code === 'too_large') {
        const limit = Number((/(\d+) bytes/.exec(err.message || '') || [])[1]);
        if (limit) this.maxBytes = limit;
      }
      this.fail(item, err);
    });
  }

  fail(item, err) {
    item.state = 'failed';
    item.error = err;
    this.emit('change', item);
  }

  /** Try a failed upload again. */
  retry(key) {
    const item = this.items.find((i) => i.key === key);
    if (item && item.state === 'failed') this.start(item);
  }

  /** Cancel an upload under way, or take a finished or failed one off the list. */
  remove(key) {
    const item = this.items.find((i) => i.key === key);
    if (!item) return;
    const { handle } = item;
    item.handle = null;
    this.items = this.items.filter((i) => i !== item);
    if (handle) handle.abort();
    this.emit('change', item);
  }

  /** The message carrying these file ids was sent: they leave the list. */
  sent(roomId, ids) {
    const gone = new Set(ids);
    const left = this.items.filter((i) => !(i.roomId === roomId && i.record && gone.has(i.record.id)));
    if (left.length === this.items.length) return;
    this.items = left;
    this.dispatchEvent(new CustomEvent('change', { detail: { roomId, item: null } }));
  }

  /** The room is gone: cancel and forget its uploads. */
  clear(roomId) {
    for (const item of this.forRoom(roomId)) this.remove(item.key);
  }
}
