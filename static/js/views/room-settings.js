// The open room's settings: its owner or an admin renames it or changes its
// description. The server has the last word (a name another room holds is
// 409 room_name_taken); its refusal is shown in the dialog, next to the
// field it concerns, and the dialog stays open to fix it.

import { byId, showFormError } from '../dom.js';
import { describeError } from '../errors.js';
import { roomFieldsProblem } from '../room-fields.js';

const visible = (node) => node.isConnected && node.getClientRects().length > 0;

/** `getRoomId()` tells which room is open: the settings are that room's. */
export function mountRoomSettings({ session, getRoomId }) {
  const opener = byId('room-settings-btn');
  const dialog = byId('room-settings-dialog');
  const form = byId('room-settings-form');
  const name = byId('room-settings-name');
  const description = byId('room-settings-description');
  const error = byId('room-settings-error');
  const submit = byId('room-settings-save');
  /** The room the open dialog edits (the user may switch rooms meanwhile). */
  let roomId = null;
  let busy = false;

  const showError = (text, field = null) => showFormError(error, [name, description], text, field);

  opener.addEventListener('click', () => {
    const rs = session.rooms.get(getRoomId());
    if (!rs) return;
    roomId = rs.room.id;
    name.value = rs.room.name;
    description.value = rs.room.description || '';
    showError('');
    dialog.showModal();
    name.focus();
    name.select();
  });
  byId('room-settings-cancel').addEventListener('click', () => { if (!busy) dialog.close(); });
  dialog.addEventListener('cancel', (ev) => { if (busy) ev.preventDefault(); });
  dialog.addEventListener('close', () => {
    roomId = null;
    // The button is gone when the room went away (or our rights did).
    const target = [opener, byId('composer-input'), byId('new-room-btn')].find(visible);
    if (target) target.focus();
  });
  // Deleted or taken away while the dialog was open: nothing left to edit.
  session.addEventListener('room-dropped', (e) => { if (e.detail.roomId === roomId && dialog.open) dialog.close(); });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (busy || !roomId) return;
    const rs = session.rooms.get(roomId);
    if (!rs) return;
    const newName = name.value.trim();
    const newDescription = description.value.trim();
    const problem = roomFieldsProblem(newName, newDescription);
    if (problem) {
      showError(problem.text, problem.field === 'name' ? name : description);
      return;
    }
    // Send only what changed: an unchanged field cannot be refused.
    const changes = {};
    if (newName !== rs.room.name) changes.name = newName;
    if (newDescription !== (rs.room.description || '')) changes.description = newDescription;
    if (!Object.keys(changes).length) {
      dialog.close();
      return;
    }
    busy = true;
    submit.disabled = true;
    dialog.setAttribute('aria-busy', 'true');
    showError('');
    try {
      await session.updateRoom(roomId, changes);
      busy = false;
      dialog.close();
    } catch (err) {
      showError(describeError(err), fieldFor(err, changes));
    } finally {
      busy = false;
      submit.disabled = false;
      dialog.removeAttribute('aria-busy');
    }
  });

  /** The field a refusal is about, to mark and focus. */
  function fieldFor(err, changes) {
    if (err.code === 'room_name_taken') return name;
    if (err.code === 'validation_failed') {
      if (changes.name === undefined) return description;
      if (changes.description === undefined || /name/i.test(err.message || '')) return name;
      return description;
    }
    return null;
  }
}
