// Two people in two browsers register, meet in a room and chat live both
// ways, with presence, typing, unread counts, and a session that survives
// a reload.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  TEST_TIMEOUT_MS, createRoomViaUI, logTexts, openRoomViaUI, registerViaUI, roomButton, sendViaUI, serverAndBrowser,
  waitConnected, waitForMessage,
} from './helpers.js';

const env = serverAndBrowser();
const contexts = [];

test('two users register, join a room and chat live both ways', { timeout: TEST_TIMEOUT_MS }, async () => {
  const ctxA = await env.newContext();
  const ctxB = await env.newContext();
  contexts.push(ctxA, ctxB);
  const alice = await ctxA.newPage();
  const bob = await ctxB.newPage();

  await registerViaUI(alice, env.server, 'alice');
  await registerViaUI(bob, env.server, 'bob');

  await createRoomViaUI(alice, 'general', { description: 'Everything and nothing' });

  // Bob's page learns about new rooms on reload (his login must survive it).
  await bob.reload();
  await waitConnected(bob);
  await openRoomViaUI(bob, 'general');

  // Presence: each sees the other online.
  await alice.locator('#online-list .person-name', { hasText: 'bob' }).waitFor();
  await bob.locator('#online-list .person-name', { hasText: 'alice' }).waitFor();

  // Typing: bob types, alice sees it.
  await bob.getByRole('textbox', { name: 'Message', exact: true }).pressSequentially('hel');
  await alice.locator('#typing', { hasText: 'bob is typing' }).waitFor();

  await sendViaUI(bob, 'hello alice');
  await waitForMessage(alice, 'hello alice');
  await sendViaUI(alice, 'hi bob, see https://example.org/docs?x=1.');
  await waitForMessage(bob, 'hi bob');
  await sendViaUI(bob, 'line one\nline two');
  await waitForMessage(alice, 'line two');

  const expected = ['hello alice', 'hi bob, see https://example.org/docs?x=1.', 'line one\nline two'];
  assert.deepEqual(await logTexts(alice), expected);
  assert.deepEqual(await logTexts(bob), expected);

  // Own messages are marked as such, others' are not.
  assert.deepEqual(await alice.$$eval('#message-log .msg', (n) => n.map((m) => m.classList.contains('mine'))), [false, true, false]);
  assert.deepEqual(await bob.$$eval('#message-log .msg', (n) => n.map((m) => m.classList.contains('mine'))), [true, false, true]);

  // The URL is a safe link without the trailing full stop.
  const link = bob.locator('#message-log a');
  assert.equal(await link.getAttribute('href'), 'https://example.org/docs?x=1');
  assert.equal(await link.getAttribute('target'), '_blank');
  assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');

  // Unread: alice looks at another room while bob writes in general.
  await createRoomViaUI(alice, 'random');
  await sendViaUI(bob, 'are you there?');
  await roomButton(alice, 'general').locator('.badge', { hasText: '1' }).waitFor();
  assert.match(await alice.title(), /^\(1\) /);
  await openRoomViaUI(alice, 'general');
  await waitForMessage(alice, 'are you there?');
  assert.equal(await roomButton(alice, 'general').locator('.badge').count(), 0);

  // Shift+Enter makes a new line instead of sending.
  const box = alice.getByRole('textbox', { name: 'Message', exact: true });
  await box.fill('first');
  await box.press('Shift+Enter');
  await box.pressSequentially('second');
  assert.equal(await box.inputValue(), 'first\nsecond');
  await box.press('Enter');
  await waitForMessage(bob, 'second');
  assert.equal((await logTexts(bob)).at(-1), 'first\nsecond');

  // Log out, then back in.
  await alice.getByRole('button', { name: 'Log out' }).click();
  await alice.locator('#auth-form').waitFor();
  assert.equal(await alice.evaluate(() => localStorage.getItem('chatroom.token')), null);
  await bob.locator('#online-list .person-name', { hasText: 'alice' }).waitFor({ state: 'detached' });

  for (const ctx of contexts) {
    assert.deepEqual(ctx.foreign, [], 'requests to other hosts');
    assert.deepEqual(ctx.errors, [], 'page errors');
  }
});

test('the owner of a private room adds and removes a member', { timeout: TEST_TIMEOUT_MS }, async () => {
  const ctxA = await env.newContext();
  const ctxC = await env.newContext();
  const owner = await ctxA.newPage();
  const member = await ctxC.newPage();
  await registerViaUI(owner, env.server, 'olivia');
  await registerViaUI(member, env.server, 'charlie');

  await createRoomViaUI(owner, 'secret', { isPrivate: true, description: 'Only for us' });
  const admin = owner.locator('#members-admin');
  /** Add `name` in the owner's member form and wait for the status that says `status`. */
  const addMember = async (name, status) => {
    await admin.getByLabel('Username').fill(name);
    await admin.getByRole('button', { name: 'Add', exact: true }).click();
    await owner.locator('#member-status', { hasText: status }).waitFor();
  };
  await addMember('nobody-here', 'There is no user called nobody-here');
  await addMember('charlie', 'charlie can now see this room');

  // Charlie's room list picks the room up (here: on reload) and he can chat in it.
  await member.reload();
  await waitConnected(member);
  await openRoomViaUI(member, 'secret');
  assert.equal(await member.locator('#members-admin').isVisible(), false, 'only the owner manages members');
  await sendViaUI(member, 'thanks for the invite');
  await waitForMessage(owner, 'thanks for the invite');

  // Removing him takes the room away from his page at once (roomRemoved).
  await owner.getByRole('button', { name: 'Remove charlie from this room' }).click();
  await owner.locator('#member-status', { hasText: 'charlie was removed' }).waitFor();
  await roomButton(member, 'secret').waitFor({ state: 'detached' });
  await member.locator('.toast', { hasText: 'no longer have access' }).waitFor();
  assert.equal(await member.locator('#room-title', { hasText: 'secret' }).count(), 0);

  // Added back, he leaves by himself, after confirming in a dialog.
  await addMember('charlie', 'charlie can now see this room');
  await member.reload();
  await waitConnected(member);
  await openRoomViaUI(member, 'secret');
  assert.equal(await member.getByRole('button', { name: 'Delete room' }).isVisible(), false, 'only the owner deletes the room');
  await member.getByRole('button', { name: 'Leave', exact: true }).click();
  const leave = member.getByRole('alertdialog', { name: 'Leave “secret”?' });
  await leave.getByRole('button', { name: 'Cancel' }).click();
  await leave.waitFor({ state: 'hidden' });
  assert.equal(await roomButton(member, 'secret').count(), 1, 'cancel keeps him in');
  await member.getByRole('button', { name: 'Leave', exact: true }).click();
  await leave.getByRole('button', { name: 'Leave room' }).click();
  await roomButton(member, 'secret').waitFor({ state: 'detached' });
  await owner.locator('#online-list .person-name', { hasText: 'charlie' }).waitFor({ state: 'detached' });

  for (const ctx of [ctxA, ctxC]) {
    assert.deepEqual(ctx.foreign, []);
    assert.deepEqual(ctx.errors, []);
    await ctx.close();
  }
});
