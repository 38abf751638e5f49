// The log-in / create-account form. It validates what the contract states
// before asking the server, and explains every refusal in plain words.

import { byId } from '../dom.js';
import { describeError } from '../errors.js';

const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/;
const PASSWORD_MIN_BYTES = 8;
const PASSWORD_MAX_BYTES = 1024;

/**
 * `onSubmit(mode, username, password)` is 'login' or 'register' and must
 * resolve when done or throw an ApiError to show.
 */
export function mountAuth({ onSubmit }) {
  const form = byId('auth-form');
  const username = byId('auth-username');
  const password = byId('auth-password');
  const error = byId('auth-error');
  const buttons = form.querySelectorAll('button[type=submit]');
  let busy = false;

  function showError(text, field) {
    error.textContent = text;
    for (const input of [username, password]) input.removeAttribute('aria-invalid');
    if (field) {
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    }
  }

  function validate(mode) {
    const name = username.value.trim();
    if (!USERNAME_RE.test(name)) {
      return ['Usernames are 3 to 32 characters: letters, digits, _ . or -', username];
    }
    const bytes = new TextEncoder().encode(password.value).length;
    if (mode === 'register' && bytes < PASSWORD_MIN_BYTES) return ['Passwords need at least 8 characters.', password];
    if (bytes === 0) return ['Enter your password.', password];
    if (bytes > PASSWORD_MAX_BYTES) return ['Passwords are at most 1024 bytes.', password];
    return null;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (busy) return;
    // Enter in a field submits with the first button: log in.
    const mode = ev.submitter && ev.submitter.value === 'register' ? 'register' : 'login';
    const problem = validate(mode);
    if (problem) {
      showError(...problem);
      return;
    }
    busy = true;
    for (const b of buttons) b.disabled = true;
    showError('');
    try {
      await onSubmit(mode, username.value.trim(), password.value);
      password.value = '';
    } catch (err) {
      const field = err.code === 'username_taken' ? username
        : err.code === 'invalid_credentials' ? password : null;
      // The right password for a disabled account is answered 403.
      const text = mode === 'login' && err.code === 'forbidden'
        ? 'This account is disabled. Ask an admin of this server to enable it again.'
        : describeError(err);
      showError(text, field);
    } finally {
      busy = false;
      for (const b of buttons) b.disabled = false;
    }
  });

  return {
    /** Show a message above the buttons (e.g. "session expired"). */
    notice(text) {
      showError(text);
    },
    focus() {
      (username.value ? password : username).focus();
    },
  };
}
