// An admin gives another user a new password (from the Users panel). The
// server then logs the user out everywhere at once: its tokens stop
// working and its open pages go back to the log-in screen.

import { byId, showFormError } from '../dom.js';
import { describeError } from '../errors.js';
import { passwordProblem } from '../password-rules.js';
import { mountFormDialog } from './form-dialog.js';

/**
 * Mount the dialog; returns `open(user, onClose)`, which asks for a new
 * password for `user` and calls `onClose(done)` once the dialog closes,
 * done telling whether the password was reset.
 */
export function mountPasswordReset({ session }) {
  const dialog = byId('reset-dialog');
  const password = byId('reset-password');
  const error = byId('reset-error');
  /** The request on screen: {user, done, onClose}. */
  let target = null;

  const showError = (text, field = null) => showFormError(error, [password], text, field);

  dialog.addEventListener('close', () => {
    const closed = target;
    target = null;
    password.value = '';
    if (closed) closed.onClose(closed.done);
  });
  password.addEventListener('input', () => { if (password.getAttribute('aria-invalid') === 'true') showError(''); });

  mountFormDialog({
    dialog,
    form: byId('reset-form'),
    cancel: byId('reset-cancel'),
    submit: byId('reset-submit'),
    start() {
      if (!target) return null;
      const problem = passwordProblem(password.value);
      showError(problem || '', problem ? password : null);
      return problem ? null : session.resetPassword(target.user.id, password.value);
    },
    done: () => { target.done = true; },
    failed: (err) => showError(describeError(err), err.code === 'validation_failed' ? password : null),
  });

  return function open(user, onClose) {
    target = { user, done: false, onClose };
    byId('reset-title').textContent = `Reset ${user.username}’s password`;
    byId('reset-hint').textContent =
      `${user.username} is logged out everywhere at once and logs in again with the new password. Tell them what it is.`;
    byId('reset-username').value = user.username;
    password.value = '';
    showError('');
    dialog.showModal();
    password.focus();
  };
}
