// The admin's "Users" panel: every account with its role and state,
// making one an admin or a regular user, resetting its password, disabling
// or enabling it, and adding one (how people join a server whose
// registration is closed). Only offered to admins; the server checks the role
// again on every request.

import { byId, el } from '../dom.js';
import { describeError } from '../errors.js';
import { passwordProblem } from '../password-rules.js';
import { avatar } from '../render.js';
import { confirmAction } from './confirm.js';
import { mountPasswordReset } from './password-reset.js';

// The contract's limits, checked before asking the server (as on log-in).
const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/;

/** The row's buttons, told apart in data-action so the keyboard finds its way back after a reload. */
const ACTION = { role: 'role', password: 'password', state: 'state' };

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
  const resetPassword = mountPasswordReset({ session });

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
    const focused = body.contains(document.activeElement) ? document.activeElement.dataset : null;
    body.replaceChildren(...shown.map(row));
    empty.hidden = loading || shown.length > 0;
    empty.textContent = q ? `No user matches “${filter.value.trim()}”.` : 'No users yet.';
    const again = focused && focused.userId ? button(focused.userId, focused.action) : null;
    if (again) again.focus();
  }

  /** A button of `user`'s row; `label` names it with the user, for screen readers and tests. */
  const rowButton = (user, action, text, label, onClick, className = 'btn tiny') => el('button', {
    type: 'button', className, text, dataset: { userId: user.id, action }, attrs: { 'aria-label': label }, on: { click: onClick },
  });

  /** The row's button doing `action` for the user `userId`. */
  const button = (userId, action) =>
    body.querySelector(`button[data-user-id="${CSS.escape(userId)}"][data-action="${action}"]`);

  function row(user) {
    const me = user.id === session.me.id;
    const admin = user.role === 'admin';
    const disabled = Boolean(user.disabled);
    // Offered to the admin for itself too: the server's refusal says why not.
    const roleBtn = admin
      ? rowButton(user, ACTION.role, 'Remove admin', `Remove admin role: ${user.username}`, () => changeRole(user, 'user'))
      : rowButton(user, ACTION.role, 'Make admin', `Make admin: ${user.username}`, () => changeRole(user, 'admin'));
    // Admins change their own password with the current one (the lock in the top bar).
    const resetBtn = me ? null
      : rowButton(user, ACTION.password, 'Reset password', `Reset password: ${user.username}`, () => reset(user));
    const enableBtn = () => rowButton(user, ACTION.state, 'Enable', `Enable ${user.username}`, () => enable(user));
    const disableBtn = () =>
      rowButton(user, ACTION.state, 'Disable', `Disable ${user.username}`, () => disable(user), 'btn tiny danger-ghost');
    const stateBtn = me ? null : (disabled ? enableBtn() : disableBtn());
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
      el('td', { className: 'user-action' }, el('span', { className: 'user-actions' }, roleBtn, resetBtn, stateBtn)));
  }

  function changeRole(user, role) {
    const me = user.id === session.me.id;
    const promote = role === 'admin';
    confirmAction({
      title: promote ? `Make ${user.username} an admin?` : `Remove ${user.username}’s admin role?`,
      text: promote
        ? `${user.username} can then manage every account and moderate every room, at once.`
        : `${user.username} becomes a regular user at once.`,
      confirmLabel: promote ? 'Make admin' : 'Remove admin',
      action: async () => {
        try {
          await session.setUserRole(user.id, role);
        } catch (err) {
          // The one refusal an admin can run into here.
          if (me && !promote && err.code === 'validation_failed') {
            throw new Error('You cannot remove your own admin role. Another admin can do it.');
          }
          throw err;
        }
        status.textContent = promote ? `${user.username} is now an admin.` : `${user.username} is now a regular user.`;
        await load();
      },
      focusAfter: () => button(user.id, ACTION.role),
    });
  }

  function reset(user) {
    status.textContent = '';
    resetPassword(user, (done) => {
      if (done) status.textContent = `${user.username}’s password was reset, and ${user.username} was logged out everywhere.`;
      const again = button(user.id, ACTION.password);
      if (again) again.focus();
    });
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
      focusAfter: () => button(user.id, ACTION.state),
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
    const problem = passwordProblem(password);
    return problem ? [problem, addPassword] : null;
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
