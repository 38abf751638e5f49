// Moderation in the web client: authors edit and delete their messages,
// room owners delete any message of their room and the room itself, and an
// admin (made with `create-admin` while the server runs) manages users.
// Every change shows live on the other pages; a disabled user's page goes
// back to the log-in screen at once.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import {
  PASSWORD, SCREENSHOT_DIR, TEST_TIMEOUT_MS, createAdmin, createRoom, loginViaUI, logTexts, messageAction,
  messageRow, openRoomViaUI, registerUser, roomButton, sendViaUI, serverAndBrowser, waitConnected, waitForMessage,
  waitForFocus,
} from './helpers.js';

/** Pages kept open across the tests: {ann, bob} with their contexts. */
const open = {};

const env = serverAndBrowser({
  setup: async () => {
    const ann = await registerUser(env.server, 'ann');
    await registerUser(env.server, 'bob');
    await createRoom(env.server, ann.token, 'lobby', { description: 'Owned by ann' });
    for (const name of ['ann', 'bob']) {
      const ctx = await env.newContext();
      const page = await ctx.newPage();
      await loginViaUI(page, env.server, name);
      await openRoomViaUI(page, 'lobby');
      open[name] = { ctx, page };
    }
  },
});

/** The edit and delete buttons of a message row, by accessible name (everyone may react). */
const actionNames = (page, text) =>
  messageRow(page, text).locator('button:not([data-action="react"])').evaluateAll((bs) => bs.map((b) => b.getAttribute('aria-label')));

function checkClean(...contexts) {
  for (const ctx of contexts) {
    assert.deepEqual(ctx.foreign, [], 'requests to other hosts');
    assert.deepEqual(ctx.errors, [], 'page errors or CSP violations');
  }
}

test('who may edit or delete which message', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { ann, bob } = { ann: open.ann.page, bob: open.bob.page };
  await sendViaUI(bob, 'hello from bob');
  await sendViaUI(bob, 'a mesage with a typo');
  await sendViaUI(ann, 'welcome bob');
  for (const page of [ann, bob]) await waitForMessage(page, 'welcome bob');

  // Bob (neither owner nor admin): edit and delete on his own messages only.
  assert.deepEqual(await actionNames(bob, 'hello from bob'), ['Edit message', 'Delete message']);
  assert.deepEqual(await actionNames(bob, 'welcome bob'), [], 'no action on another user\'s message');
  assert.equal(await bob.locator('#delete-room-btn').isVisible(), false, 'no Delete room for a non-owner');
  assert.equal(await bob.locator('#users-btn').isVisible(), false, 'no Users panel for a non-admin');

  // Ann owns the room: she may delete bob's messages but not edit them.
  assert.deepEqual(await actionNames(ann, 'hello from bob'), ['Delete message']);
  assert.deepEqual(await actionNames(ann, 'welcome bob'), ['Edit message', 'Delete message']);
  assert.equal(await ann.getByRole('button', { name: 'Delete room' }).isVisible(), true);
  assert.equal(await ann.locator('#users-btn').isVisible(), false);

  // The actions are not displayed until hover or keyboard focus on the message reveals them.
  const actions = messageRow(bob, 'hello from bob').locator('.msg-actions');
  await bob.mouse.move(0, 0);
  await bob.waitForFunction((n) => getComputedStyle(n).display === 'none', await actions.elementHandle());
  await messageRow(bob, 'hello from bob').focus();
  await messageRow(bob, 'hello from bob').getByRole('button', { name: 'Edit message' }).focus();
  assert.equal(await actions.evaluate((n) => getComputedStyle(n).display), 'flex', 'focus reveals the actions');
  checkClean(open.ann.ctx, open.bob.ctx);
});

test('the author edits a message in place; both pages show it as edited', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { ann, bob } = { ann: open.ann.page, bob: open.bob.page };
  const row = messageRow(bob, 'a mesage with a typo');

  // Keyboard only: Enter on the Edit button opens the editor, Escape cancels.
  const edit = row.getByRole('button', { name: 'Edit message' });
  await row.focus();
  await edit.focus();
  await edit.press('Enter');
  const box = bob.getByRole('textbox', { name: 'Edit message' });
  await box.waitFor();
  await waitForFocus(box);
  assert.equal(await box.inputValue(), 'a mesage with a typo');
  await box.fill('something else');
  await box.press('Escape');
  await box.waitFor({ state: 'detached' });
  assert.equal(await row.locator('.msg-edited').count(), 0, 'nothing changed');
  await waitForFocus(edit);

  // An empty text is refused in place.
  await edit.press('Enter');
  await box.fill('   ');
  await box.press('Enter');
  await bob.locator('.msg-editor .form-error', { hasText: 'cannot be empty' }).waitFor();

  // Enter saves; Shift+Enter is a new line.
  await box.fill('a message');
  await box.press('Shift+Enter');
  await box.pressSequentially('without the typo');
  await bob.screenshot({ path: path.join(SCREENSHOT_DIR, 'message-edit.png') });
  await box.press('Enter');
  await box.waitFor({ state: 'detached' });

  const fixed = 'a message\nwithout the typo';
  for (const page of [bob, ann]) {
    const edited = messageRow(page, fixed);
    await edited.waitFor();
    // Visible even though the row continues bob's previous message.
    await edited.locator('.msg-edited', { hasText: '(edited)' }).waitFor({ state: 'visible' });
    assert.deepEqual(await logTexts(page), ['hello from bob', fixed, 'welcome bob']);
  }
  checkClean(open.ann.ctx, open.bob.ctx);
});

test('the room owner deletes another user\'s message after confirming', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { ann, bob } = { ann: open.ann.page, bob: open.bob.page };
  await messageAction(ann, 'hello from bob', 'Delete message');
  const dialog = ann.getByRole('alertdialog', { name: 'Delete message?' });
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /by bob/);
  assert.equal(await dialog.locator('.confirm-quote').textContent(), 'hello from bob');
  // The safe choice has the focus; Cancel changes nothing.
  const cancel = dialog.getByRole('button', { name: 'Cancel' });
  await waitForFocus(cancel);
  await ann.screenshot({ path: path.join(SCREENSHOT_DIR, 'confirm-delete.png') });
  await cancel.click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await messageRow(ann, 'hello from bob').count(), 1);

  // Escape cancels too.
  await messageAction(ann, 'hello from bob', 'Delete message');
  await dialog.waitFor();
  await ann.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });

  await messageAction(ann, 'hello from bob', 'Delete message');
  await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
  for (const page of [ann, bob]) {
    await messageRow(page, 'hello from bob').waitFor({ state: 'detached' });
    assert.deepEqual(await logTexts(page), ['a message\nwithout the typo', 'welcome bob']);
  }

  // The author deletes his own message too.
  await messageAction(bob, 'a message\nwithout the typo', 'Delete message');
  const own = bob.getByRole('alertdialog', { name: 'Delete message?' });
  await own.getByRole('button', { name: 'Delete', exact: true }).click();
  for (const page of [ann, bob]) await messageRow(page, 'a message\nwithout the typo').waitFor({ state: 'detached' });
  checkClean(open.ann.ctx, open.bob.ctx);
});

test('deleting a room removes it from every page', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { ann, bob } = { ann: open.ann.page, bob: open.bob.page };
  const annToken = await ann.evaluate(() => localStorage.getItem('chatroom.token'));
  await createRoom(env.server, annToken, 'doomed');
  for (const page of [ann, bob]) {
    await page.reload();
    await waitConnected(page);
    await openRoomViaUI(page, 'doomed');
  }
  await sendViaUI(bob, 'is this room going away?');
  await waitForMessage(ann, 'is this room going away?');

  await ann.getByRole('button', { name: 'Delete room' }).click();
  const dialog = ann.getByRole('alertdialog', { name: 'Delete “doomed”?' });
  await dialog.getByRole('button', { name: 'Delete room' }).click();
  await dialog.waitFor({ state: 'hidden' });

  for (const page of [ann, bob]) {
    await roomButton(page, 'doomed').waitFor({ state: 'detached' });
    // Each page moved on to a room that still exists.
    await page.locator('#room-title', { hasText: 'lobby' }).waitFor();
  }
  await bob.locator('.toast', { hasText: 'was deleted' }).waitFor();
  checkClean(open.ann.ctx, open.bob.ctx);
});

test('an admin made while the server runs disables and enables a user', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { ann, bob } = { ann: open.ann.page, bob: open.bob.page };
  assert.match(await createAdmin(env.server, 'root'), /root/);
  const ctx = await env.newContext();
  const root = await ctx.newPage();
  await loginViaUI(root, env.server, 'root');
  await openRoomViaUI(root, 'lobby');

  // In someone else's room an admin may delete any message, edit none.
  await waitForMessage(root, 'welcome bob');
  assert.deepEqual(await actionNames(root, 'welcome bob'), ['Delete message']);
  assert.equal(await root.getByRole('button', { name: 'Delete room' }).isVisible(), true);

  await root.getByRole('button', { name: 'Users' }).click();
  const panel = root.getByRole('dialog', { name: 'Users' });
  await panel.waitFor();
  const rows = panel.locator('tbody tr');
  await rows.nth(2).waitFor();
  const table = await rows.evaluateAll((trs) => trs.map((tr) => ({
    name: tr.querySelector('.user-name').textContent,
    you: Boolean(tr.querySelector('.tag') && tr.querySelector('.tag').textContent === 'you'),
    role: tr.querySelector('.user-role').textContent,
    state: tr.querySelector('.user-state').textContent,
    action: [...tr.querySelectorAll('button')].map((b) => b.getAttribute('aria-label')),
  })));
  assert.deepEqual(table, [
    { name: 'ann', you: false, role: 'User', state: 'Active', action: ['Make admin: ann', 'Reset password: ann', 'Disable ann'] },
    { name: 'bob', you: false, role: 'User', state: 'Active', action: ['Make admin: bob', 'Reset password: bob', 'Disable bob'] },
    { name: 'root', you: true, role: 'Admin', state: 'Active', action: ['Remove admin role: root'] },
  ], 'no Disable or password reset button for yourself');

  // Filtering.
  await panel.getByLabel('Find a user').fill('bo');
  await panel.locator('tbody tr').nth(1).waitFor({ state: 'detached' });
  assert.equal(await panel.locator('tbody tr').count(), 1);
  await panel.getByLabel('Find a user').fill('');
  await rows.nth(2).waitFor();
  await root.screenshot({ path: path.join(SCREENSHOT_DIR, 'admin-users.png') });

  // Disable bob while his page is open: it returns to the log-in screen.
  await panel.getByRole('button', { name: 'Disable bob' }).click();
  const confirm = root.getByRole('alertdialog', { name: 'Disable bob?' });
  await confirm.getByRole('button', { name: 'Disable' }).click();
  await confirm.waitFor({ state: 'hidden' });
  await bob.locator('#auth-form').waitFor({ state: 'visible' });
  await bob.locator('#auth-error', { hasText: 'Your account was disabled or your session ended' }).waitFor();
  assert.equal(await bob.evaluate(() => localStorage.getItem('chatroom.token')), null);

  // The panel shows it, and the keyboard is on the new Enable button.
  const enable = panel.getByRole('button', { name: 'Enable bob' });
  await enable.waitFor();
  await panel.locator('tr', { hasText: 'bob' }).locator('.state', { hasText: 'Disabled' }).waitFor();
  await waitForFocus(enable);

  // Bob's log-in says the account is disabled.
  const form = bob.locator('#auth-form');
  await form.getByLabel('Username').fill('bob');
  await form.getByLabel('Password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Log in' }).click();
  await bob.locator('#auth-error', { hasText: 'This account is disabled' }).waitFor();

  // Enabled again, he logs back in.
  await enable.click();
  await panel.locator('#users-status', { hasText: 'bob was enabled' }).waitFor();
  await panel.getByRole('button', { name: 'Disable bob' }).waitFor();
  await loginViaUI(bob, env.server, 'bob');

  // The admin adds an account with the panel's form.
  const add = panel.getByRole('form', { name: 'Add a user' });
  const newName = add.getByLabel('Username');
  const newPassword = add.getByLabel('Password');
  const addBtn = add.getByRole('button', { name: 'Add', exact: true });
  const addError = add.locator('#user-add-error');
  // Checked before asking the server, with the keyboard on the field at fault.
  await newName.fill('cat');
  await newPassword.fill('short');
  await addBtn.click();
  await addError.filter({ hasText: 'at least 8 characters' }).waitFor();
  assert.equal(await newPassword.getAttribute('aria-invalid'), 'true');
  await waitForFocus(newPassword);
  await newPassword.fill(PASSWORD);
  await add.getByLabel(/^Admin/).check();
  await root.screenshot({ path: path.join(SCREENSHOT_DIR, 'admin-add-user.png') });
  await addBtn.click();
  await panel.locator('#users-status', { hasText: 'cat was added as an admin' }).waitFor();
  await panel.locator('tbody tr[data-username="cat"] .user-role', { hasText: 'Admin' }).waitFor();
  assert.equal(await panel.locator('tbody tr').count(), 4);
  assert.equal(await addError.textContent(), '');
  assert.equal(await newPassword.getAttribute('aria-invalid'), null);
  assert.equal(await newName.inputValue(), '', 'the form is cleared for the next one');
  assert.equal(await newPassword.inputValue(), '');
  assert.equal(await add.getByLabel(/^Admin/).isChecked(), false);
  await waitForFocus(newName);

  // A taken name is refused by the server and explained next to the form.
  await newName.fill('cat');
  await newPassword.fill(PASSWORD);
  await addBtn.click();
  await addError.filter({ hasText: 'The username cat is already taken' }).waitFor();
  assert.equal(await newName.getAttribute('aria-invalid'), 'true');
  await waitForFocus(newName);
  assert.equal(await panel.locator('tbody tr').count(), 4, 'no second cat');

  // The new account logs in, as an admin.
  const catCtx = await env.newContext();
  const cat = await catCtx.newPage();
  await loginViaUI(cat, env.server, 'cat');
  await cat.getByRole('button', { name: 'Users' }).waitFor({ state: 'visible' });
  checkClean(catCtx);
  await catCtx.close();

  await root.keyboard.press('Escape');
  await panel.waitFor({ state: 'hidden' });
  await waitForFocus(root.getByRole('button', { name: 'Users' }));

  // The admin deletes a message in ann's room; it goes from ann's page too.
  await messageAction(root, 'welcome bob', 'Delete message');
  await root.getByRole('alertdialog', { name: 'Delete message?' }).getByRole('button', { name: 'Delete', exact: true }).click();
  for (const page of [root, ann]) await messageRow(page, 'welcome bob').waitFor({ state: 'detached' });

  checkClean(ctx, open.ann.ctx, open.bob.ctx);
  await ctx.close();
});
