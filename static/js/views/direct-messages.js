// The "New message" dialog: pick 1 to 8 people with the username picker and
// open the direct conversation with exactly them (started on first use, the
// same one afterwards, whoever of them starts it).

import { byId, showFormError } from '../dom.js';
import { MAX_DIRECT_PEOPLE } from '../directory.js';
import { describeError } from '../errors.js';
import { mountFormDialog } from './form-dialog.js';
import { mountUserPicker } from './user-picker.js';

/** `onOpen(roomId)` shows the conversation once it is in the room list. */
export function mountDirectMessages({ session, directory, onOpen }) {
  const opener = byId('new-dm-btn');
  const dialog = byId('dm-dialog');
  const error = byId('dm-error');
  /** The conversation the dialog closed onto: it takes the focus, not the opener. */
  let opened = null;
  /** The names of the request under way, to explain a 404. */
  let asked = [];

  const picker = mountUserPicker({
    input: byId('dm-people'),
    search: (prefix, limit) => directory.search(prefix, limit),
    max: MAX_DIRECT_PEOPLE,
    exclude: () => new Set([session.me.username.toLowerCase()]),
    onChange: () => showError(''),
  });
  const showError = (text, onField = false) => showFormError(error, [picker.input], text, onField ? picker.input : null);

  opener.addEventListener('click', () => {
    picker.clear();
    showError('');
    dialog.showModal();
    picker.focus();
  });
  dialog.addEventListener('close', () => {
    const room = opened;
    opened = null;
    if (room) onOpen(room.id);
    else opener.focus();
  });

  mountFormDialog({
    dialog,
    form: byId('dm-form'),
    cancel: byId('dm-cancel'),
    submit: byId('dm-start'),
    start() {
      asked = picker.names();
      const problem = namesProblem(asked, session.me.username);
      showError(problem || '', Boolean(problem));
      return problem ? null : directory.openDirect(asked);
    },
    done: (room) => { opened = room; },
    failed: (err) => showError(err.code === 'not_found' ? notFoundText(asked) : describeError(err), true),
  });
}

/** What is wrong with starting a conversation with `names`, before asking the server. */
function namesProblem(names, me) {
  if (!names.length) return 'Choose at least one person.';
  if (names.length > MAX_DIRECT_PEOPLE) return `A conversation has at most ${MAX_DIRECT_PEOPLE} other people.`;
  if (names.some((n) => n.toLowerCase() === me.toLowerCase())) return 'That is you: choose someone else.';
  return null;
}

function notFoundText(names) {
  return names.length === 1
    ? `There is no user called ${names[0]}.`
    : 'One of these people is not a user of this server (or the account is disabled).';
}
