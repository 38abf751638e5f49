// Direct messages, member lists and account management in the web client:
// a conversation started with the username picker appears live on the other
// person's page, in its own section; the owner of a private room adds a
// member with the same picker and the member list follows; an admin promotes,
// demotes and resets a password in the Users dialog.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import {
  PASSWORD, SCREENSHOT_DIR, api, TEST_TIMEOUT_MS, createAdmin, createRoom, escapeRe, loginViaUI, openRoomViaUI, registerUser,
  roomButton, sendViaUI, serverAndBrowser, waitForFocus, waitForMessage,
} from './helpers.js';

/** Events reach the other page "within a second". */
const LIVE_MS = 1000;

const env = serverAndBrowser({
  async setup(e) {
    e.alice = await registerUser(e.server, 'alice');
    await registerUser(e.server, 'bob');
    await registerUser(e.server, 'bobby');
    await registerUser(e.server, 'carol');
  },
});

/** A logged-in page of `username`. */
async function openPage(username, password = PASSWORD) {
  const ctx = await env.newContext();
  const page = await ctx.newPage();
  await loginViaUI(page, env.server, username, password);
  return { ctx, page };
}

async function closePage({ ctx }) {
  assert.deepEqual(ctx.foreign, [], 'requests to other hosts');
  assert.deepEqual(ctx.errors, [], 'page errors or CSP violations');
  await ctx.close();
}

/** The entry of a direct conversation in the sidebar, by the names it shows. */
const dmButton = (page, name) => page.locator('#dm-list .room-btn', {
  has: page.locator('.room-name', { hasText: new RegExp(`^${escapeRe(name)}$`) }),
});

/** The member list's entry for `username`. */
const memberRow = (page, username) => page.locator('#member-list .person', {
  has: page.locator('.person-name', { hasText: new RegExp(`^${escapeRe(username)},`) }),
});

test('alice starts a conversation with bob through the picker; both talk live', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await openPage('alice');
  const b = await openPage('bob');

  await a.page.getByRole('button', { name: 'New message' }).click();
  const dialog = a.page.getByRole('dialog', { name: 'New message' });
  const to = dialog.getByRole('combobox', { name: 'To' });
  await waitForFocus(to);

  // Suggestions by prefix; Escape closes them and leaves the dialog open.
  await to.pressSequentially('bo');
  const options = dialog.getByRole('option');
  await options.nth(1).waitFor();
  assert.deepEqual(await options.locator('.picker-option-name').allTextContents(), ['bob', 'bobby']);
  assert.equal(await options.first().getAttribute('aria-selected'), 'true');
  await to.press('ArrowDown');
  assert.equal(await options.nth(1).getAttribute('aria-selected'), 'true');
  await a.page.screenshot({ path: path.join(SCREENSHOT_DIR, 'direct-message-picker.png') });
  await to.press('Escape');
  await dialog.getByRole('listbox').waitFor({ state: 'hidden' });
  assert.equal(await dialog.isVisible(), true);
  // Arrows bring the suggestions back; Enter picks the active one as a chip.
  await to.press('ArrowDown');
  await options.first().waitFor();
  await to.press('Enter');
  const chips = dialog.getByRole('list', { name: 'Chosen people' }).locator('.chip-name');
  await chips.first().waitFor();
  assert.deepEqual(await chips.allTextContents(), ['bob']);
  assert.equal(await to.inputValue(), '');
  // Enter with nothing left to pick opens the conversation.
  await to.press('Enter');
  await dialog.waitFor({ state: 'hidden' });
  await a.page.locator('#room-title', { hasText: 'bob' }).waitFor();
  await dmButton(a.page, 'bob').waitFor();
  // Bob's page: the conversation appears in his section at once, joined.
  await dmButton(b.page, 'alice').locator('.room-online', { hasText: '2 online' }).waitFor({ state: 'attached', timeout: LIVE_MS });
  // (The count shows only for the open room and on hover: it is checked in the page, not on screen.)
  assert.equal(await roomButton(b.page, 'alice').count(), 0, 'not among his rooms');
  assert.equal(await roomButton(a.page, 'bob').count(), 0, 'not among the rooms');
  // No owner's rights in a direct room, even for the one who started it.
  for (const name of ['Leave', 'Room settings', 'Delete room']) {
    assert.equal(await a.page.getByRole('button', { name, exact: true }).isVisible(), false, name);
  }
  await sendViaUI(a.page, 'hi bob, just us');

  await dmButton(b.page, 'alice').locator('.badge').waitFor({ timeout: LIVE_MS });
  await dmButton(b.page, 'alice').click();
  await waitForMessage(b.page, 'hi bob, just us');
  await memberRow(b.page, 'alice').waitFor();
  assert.equal(await memberRow(b.page, 'alice').getAttribute('class'), 'person', 'alice shown online');
  await sendViaUI(b.page, 'hello alice');
  await waitForMessage(a.page, 'hello alice', LIVE_MS);
  await a.page.screenshot({ path: path.join(SCREENSHOT_DIR, 'direct-message.png') });

  // Asking again for the same people opens the same conversation.
  await a.page.getByRole('button', { name: 'New message' }).click();
  await to.fill('bob');
  // The suggestions open once the typing pauses and close when the field loses the keyboard, moving the
  // button between the press and the release of a click: wait for them and close them first.
  await options.first().waitFor();
  await to.press('Escape');
  await dialog.getByRole('listbox').waitFor({ state: 'hidden' });
  await dialog.getByRole('button', { name: 'Open conversation' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await a.page.locator('#dm-list .room-btn').count(), 1);
  // A name nobody has is explained in the dialog.
  await a.page.getByRole('button', { name: 'New message' }).click();
  await to.fill('nobody');
  await dialog.getByRole('button', { name: 'Open conversation' }).click();
  await dialog.getByRole('alert').filter({ hasText: 'There is no user called nobody.' }).waitFor();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await waitForFocus(a.page.getByRole('button', { name: 'New message' }));
  await closePage(a);
  await closePage(b);
});

test('the owner adds a member with the picker; the member lists follow', { timeout: TEST_TIMEOUT_MS }, async () => {
  const plans = await createRoom(env.server, env.alice.token, 'plans', { private: true });
  const a = await openPage('alice');
  await openRoomViaUI(a.page, 'plans');
  await memberRow(a.page, 'alice').locator('.tag', { hasText: 'owner' }).waitFor();
  assert.equal(await a.page.locator('#members-count').textContent(), '(1)');

  const form = a.page.locator('#members-admin');
  const field = form.getByRole('combobox', { name: 'Username' });
  // Members already in are not offered; two chosen (keyboard and mouse), one taken back.
  await field.pressSequentially('a');
  await form.getByText('No one else’s username starts with “a”.').waitFor();
  await field.fill('ca');
  await form.getByRole('option', { name: 'carol' }).waitFor();
  await field.press('Enter');
  await field.fill('b');
  await form.getByRole('option', { name: 'bobby' }).click();
  const chips = form.locator('.chip-name');
  await chips.nth(1).waitFor();
  assert.deepEqual(await chips.allTextContents(), ['carol', 'bobby']);
  await field.press('Backspace');
  await chips.nth(1).waitFor({ state: 'detached' });
  await form.getByRole('button', { name: 'Add', exact: true }).click();
  await a.page.locator('#member-status', { hasText: 'carol can now see this room.' }).waitFor();

  // Carol is listed, offline; once she comes, the list shows her online.
  await memberRow(a.page, 'carol').waitFor();
  assert.equal(await memberRow(a.page, 'carol').getAttribute('class'), 'person offline');
  assert.equal(await a.page.locator('#members-count').textContent(), '(2)');
  const c = await openPage('carol');
  await openRoomViaUI(c.page, 'plans');
  await a.page.locator('#member-list .person:not(.offline)', { hasText: 'carol' }).waitFor({ timeout: LIVE_MS });
  // Carol sees the list, without the owner's controls.
  await memberRow(c.page, 'alice').locator('.tag', { hasText: 'owner' }).waitFor();
  assert.equal(await c.page.locator('#member-list button').count(), 0);
  assert.equal(await c.page.locator('#members-admin').isVisible(), false);
  // Someone added elsewhere appears in the other members' lists at once.
  await api(env.server, 'POST', `/api/rooms/${plans.id}/members`, { token: env.alice.token, body: { username: 'bob' } });
  await memberRow(c.page, 'bob').waitFor({ timeout: LIVE_MS });
  await a.page.screenshot({ path: path.join(SCREENSHOT_DIR, 'member-list.png') });
  // Public rooms have no member list.
  await createRoom(env.server, env.alice.token, 'square');
  await openRoomViaUI(a.page, 'square');
  assert.equal(await a.page.locator('#members').isVisible(), false);
  await closePage(a);
  await closePage(c);
});

test('an admin promotes, demotes and resets a password in the Users dialog', { timeout: TEST_TIMEOUT_MS }, async () => {
  await createAdmin(env.server, 'root');
  const r = await openPage('root');
  const b = await openPage('bob');
  assert.equal(await b.page.getByRole('button', { name: 'Users' }).isVisible(), false);

  await r.page.getByRole('button', { name: 'Users' }).click();
  const panel = r.page.getByRole('dialog', { name: 'Users' });
  const confirm = r.page.getByRole('alertdialog');
  const bobRole = panel.locator('tbody tr[data-username="bob"] .user-role');
  await panel.getByRole('button', { name: 'Make admin: bob', exact: true }).click();
  await confirm.getByRole('button', { name: 'Make admin' }).click();
  await panel.locator('#users-status', { hasText: 'bob is now an admin.' }).waitFor();
  await bobRole.filter({ hasText: 'Admin' }).waitFor();
  await r.page.screenshot({ path: path.join(SCREENSHOT_DIR, 'admin-roles.png') });
  await waitForFocus(panel.getByRole('button', { name: 'Remove admin role: bob', exact: true }));
  // Bob's page offers him the Users panel once it reads his role again.
  await b.page.reload();
  await b.page.getByRole('button', { name: 'Users' }).waitFor();

  // An admin cannot demote itself: the server's refusal is shown.
  await panel.getByRole('button', { name: 'Remove admin role: root', exact: true }).click();
  await confirm.getByRole('button', { name: 'Remove admin' }).click();
  await confirm.getByRole('alert').filter({ hasText: 'You cannot remove your own admin role' }).waitFor();
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await panel.getByRole('button', { name: 'Remove admin role: bob', exact: true }).click();
  await confirm.getByRole('button', { name: 'Remove admin' }).click();
  await bobRole.filter({ hasText: 'User' }).waitFor();

  // A new password for bob: the rules are checked first; his open page is logged out.
  await panel.getByRole('button', { name: 'Reset password: bob', exact: true }).click();
  const reset = r.page.getByRole('dialog', { name: 'Reset bob’s password' });
  const password = reset.getByLabel('New password');
  await password.fill('short');
  await reset.getByRole('button', { name: 'Reset password' }).click();
  await reset.getByRole('alert').filter({ hasText: 'at least 8 characters' }).waitFor();
  await password.fill('a brand new secret');
  await reset.getByRole('button', { name: 'Reset password' }).click();
  await reset.waitFor({ state: 'hidden' });
  await panel.locator('#users-status', { hasText: 'bob’s password was reset' }).waitFor();
  await waitForFocus(panel.getByRole('button', { name: 'Reset password: bob', exact: true }));
  await b.page.locator('#auth-error', { hasText: 'Please log in again' }).waitFor();
  await loginViaUI(b.page, env.server, 'bob', 'a brand new secret');
  await closePage(r);
  await closePage(b);
});
