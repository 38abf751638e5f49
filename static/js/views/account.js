// The caller's account: changing the password. The server ends every
// session of the user when the password changes (this page's too), so the
// app logs in again with the new password right after.

import { byId, showFormError } from '../dom.js';
import { describeError } from '../errors.js';

const PASSWORD_MIN_BYTES = 8;
const PASSWORD_MAX_BYTES = 1024;

/**
 * `onChange(current, next)` must resolve once the password is changed and
 * the page holds a new token, or throw an ApiError to show.
 */
export function mountAccount({ username, onChange }) {
  const opener = byId('password-btn');
  const dialog = byId('password-dialog');
  const form = byId('password-form');
  const current = byId('password-current');
  const next = byId('password-new');
  const error = byId('password-error');
  const submit = byId('password-submit');
  let busy = false;

  // For password managers: which account the new password belongs to.
  byId('password-username').value = username;

  const showError = (text, field) => showFormError(error, [current, next], text, field);

  opener.addEventListener('click', () => {
    current.value = '';
    next.value = '';
    showError('');
    dialog.showModal();
    current.focus();
  });
  byId('password-cancel').addEventListener('click', () => { if (!busy) dialog.close(); });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (busy) return;
    if (!current.value) {
      showError('Enter your current password.', current);
      return;
    }
    const bytes = new TextEncoder().encode(next.value).length;
    if (bytes < PASSWORD_MIN_BYTES) {
      showError('Passwords need at least 8 characters.', next);
      return;
    }
    if (bytes > PASSWORD_MAX_BYTES) {
      showError('Passwords are at most 1024 bytes.', next);
      return;
    }
    busy = true;
    submit.disabled = true;
    showError('');
    try {
      await onChange(current.value, next.value);
      dialog.close();
    } catch (err) {
      const text = err.code === 'invalid_credentials' ? 'That is not your current password.' : describeError(err);
      showError(text, err.code === 'invalid_credentials' ? current : null);
    } finally {
      busy = false;
      submit.disabled = false;
    }
  });
}
