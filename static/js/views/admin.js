// The admin's "Users" panel: every account with its role and state,
// disabling or enabling one, and adding one (how people join a server whose
// registration is closed). Only offered to admins; the server checks the role
// again on every request.

import { byId, el } from '../dom.js';
import { describeError } from '../errors.js';
import { avatar } from '../render.js';
import { confirmAction } from './confirm.js';

// The contract's limits, checked before asking the server (as on log-in).
const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/;
const PASSWORD_MIN_BYTES = 8;
const PASSWORD_MAX_BYTES = 1024;

export function mountAdmin({ session }) {
  const opener = byId('users-btn');
  const dialog = byId('users-dialog');
  const closeBtn = byId('users-close');
  const filter = byId('users-filter');
  const status = byId('users-status');
  const body = byId('users-body');
  const empty = byId('users-empty');
  const addForm = byId('user-add-form');
  const addName = byId('user-add-name');
  const addPassword = byId('user-add-password');
  const addAdmin = byId('user-add-admin');
  const addError = byId('user-add-error');
  const addBtn = byId('user-add-btn');

  let users = [];
  let loading = false;
  /** Bumped per load so an older, slower answer cannot overwrite a newer one. */
  let loadGen = 0;

  function renderButton() {
    opener.hidden = !session.isAdmin;
    if (!session.isAdmin && dialog.open) dialog.close();
  }

  async function load() {
    const gen = ++loadGen;
    loading = true;
    body.setAttribute('aria-busy', 'true');
    if (!users.length) status.textContent = 'Loading users…';
    try {
      const list = await session.users();
      if (gen !== loadGen) return;
      users = Array.isArray(list) ? list : [];
      render();
      if (status.textContent === 'Loading users…') status.textContent = '';
    } catch (err) {
      if (gen === loadGen) status.textContent = `Could not load the users. ${describeError(err)}`;
    } finally {
      if (gen === loadGen) {
        loading = false;
        body.removeAttribute('aria-busy');
      }
    }
  }

  function render() {
    const q = filter.value.trim().toLowerCase();
    const shown = q ? users.filter((u) => u.username.toLowerCase().includes(q)) : users;
    // Keep the keyboard where it was when the list is rebuilt.
    const focused = body.contains(document.activeElement) ? document.activeElement.dataset.userId : null;
    body.replaceChildren(...shown.map(row));
    empty.hidden = loading || shown.length > 0;
    empty.textContent = q ? `No user matches “${filter.value.trim()}”.` : 'No users yet.';
    if (focused) {
      const again = body.querySelector(`button[data-user-id="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  function row(user) {
    const me = user.id === session.me.id;
    const admin = user.role === 'admin';
    const disabled = Boolean(user.disabled);
    let action = null;
    if (!me) {
      action = el('button', {
        type: 'button',
        className: disabled ? 'btn tiny' : 'btn tiny danger-ghost',
        text: disabled ? 'Enable' : 'Disable',
        dataset: { userId: user.id },
        attrs: { 'aria-label': `${disabled ? 'Enable' : 'Disable'} ${user.username}` },
        on: { click: () => (disabled ? enable(user) : disable(user)) },
      });
    }
    return el('tr', { className: disabled ? 'user-row is-disabled' : 'user-row', dataset: { username: user.username } },
      el('th', { attrs: { scope: 'row' } },
        el('span', { className: 'user-cell' },
          avatar(user.username),
          el('span', { className: 'user-name', text: user.username }),
          me ? el('span', { className: 'tag', text: 'you' }) : null,
          // Narrow screens fold the Role column in here (style.css).
          admin ? el('span', { className: 'tag role-inline', text: 'Admin' }) : null)),
      el('td', { className: 'user-role' }, el('span', { className: admin ? 'tag' : 'muted', text: admin ? 'Admin' : 'User' })),
      el('td', { className: 'user-state' },
        el('span', { className: disabled ? 'state off' : 'state on', text: disabled ? 'Disabled' : 'Active' })),
      el('td', { className: 'user-action' }, action));
  }

  function disable(user) {
    confirmAction({
      title: `Disable ${user.username}?`,
      text: `${user.username} is logged out at once, everywhere, and cannot log in until an admin enables the account again. Their messages stay.`,
      confirmLabel: 'Disable',
      action: async () => {
        await session.setUserDisabled(user.id, true);
        status.textContent = `${user.username} was disabled.`;
        await load();
      },
      focusAfter: () => body.querySelector(`button[data-user-id="${CSS.escape(user.id)}"]`),
    });
  }

  async function enable(user) {
    status.textContent = '';
    try {
      await session.setUserDisabled(user.id, false);
      status.textContent = `${user.username} was enabled and can log in again.`;
      await load();
    } catch (err) {
      status.textContent = describeError(err);
    }
  }

  /** Show (or clear, with '') the add form's error, marking the field at fault. */
  function showAddError(text, field) {
    addError.textContent = text;
    for (const input of [addName, addPassword]) input.removeAttribute('aria-invalid');
    if (field) {
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    }
  }

  function validateNew(name, password) {
    if (!USERNAME_RE.test(name)) return ['Usernames are 3 to 32 characters: letters, digits, _ . or -', addName];
    const bytes = new TextEncoder().encode(password).length;
    if (bytes < PASSWORD_MIN_BYTES) return ['Passwords need at least 8 characters.', addPassword];
    if (bytes > PASSWORD_MAX_BYTES) return ['Passwords are at most 1024 bytes.', addPassword];
    return null;
  }

  let adding = false;
  addForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (adding) return;
    const name = addName.value.trim();
    const problem = validateNew(name, addPassword.value);
    if (problem) {
      showAddError(...problem);
      return;
    }
    const role = addAdmin.checked ? 'admin' : 'user';
    adding = true;
    addBtn.disabled = true;
    showAddError('');
    status.textContent = '';
    try {
      const created = await session.createUser({ username: name, password: addPassword.value, role });
      const username = (created && created.username) || name;
      addForm.reset();
      status.textContent = role === 'admin'
        ? `${username} was added as an admin and can log in now.`
        : `${username} was added and can log in now.`;
      // Ready for the next one; the list shows the new account once reloaded.
      addName.focus();
      await load();
    } catch (err) {
      if (err.code === 'username_taken') {
        showAddError(`The username ${name} is already taken. Pick another one.`, addName);
      } else {
        const field = err.code === 'validation_failed'
          ? (/password/i.test(err.message || '') ? addPassword : /username/i.test(err.message || '') ? addName : null)
          : null;
        showAddError(describeError(err), field);
      }
    } finally {
      adding = false;
      addBtn.disabled = false;
    }
  });
  for (const input of [addName, addPassword]) {
    // Typing in the field at fault retires its error.
    input.addEventListener('input', () => {
      if (input.getAttribute('aria-invalid') === 'true') showAddError('');
    });
  }

  opener.addEventListener('click', () => {
    filter.value = '';
    status.textContent = '';
    addForm.reset();
    showAddError('');
    render();
    dialog.showModal();
    filter.focus();
    load();
  });
  closeBtn.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => { if (!opener.hidden) opener.focus(); });
  filter.addEventListener('input', render);

  session.addEventListener('me', renderButton);
  renderButton();
}
