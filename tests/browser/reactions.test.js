// Reactions under messages, between two browser contexts: one user reacts
// from the chooser, the other sees the count and who reacted, toggles the
// same reaction, and both pages agree until the first takes hers back. The
// chooser works from the keyboard, checks a typed reaction like the server
// does and shows the server's own refusal.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  TEST_TIMEOUT_MS, api, createRoom, loginViaUI, messageRow, openRoomViaUI, registerUser, serverAndBrowser, sleep,
  waitForFocus, waitForMessage,
} from './helpers.js';

/** The server's limit of distinct reactions on one message. */
const MAX_DISTINCT = 20;

/** Alice and Bob, and Alice's public room. */
const env = serverAndBrowser({
  async setup(e) {
    for (const name of ['alice', 'bob']) e[name] = await registerUser(e.server, name);
    e.room = await createRoom(e.server, e.alice.token, 'porch');
  },
});

/** A logged-in page of `username` showing the room. */
async function openPage(username) {
  const ctx = await env.newContext();
  const page = await ctx.newPage();
  await loginViaUI(page, env.server, username);
  await openRoomViaUI(page, 'porch');
  return { ctx, page };
}

async function closePage({ ctx }) {
  assert.deepEqual(ctx.foreign, [], 'requests to other hosts');
  assert.deepEqual(ctx.errors, [], 'page errors or CSP violations');
  await ctx.close();
}

/** The reaction `emoji` under the message `text`. */
const reaction = (page, text, emoji) => messageRow(page, text).locator(`.reaction[data-emoji="${emoji}"]`);

/** Wait (bounded) until the reaction shows `count`, pressed or not, with `who` in its tooltip. */
async function expectReaction(page, text, emoji, { count, pressed, who }) {
  const button = reaction(page, text, emoji);
  const want = { count: String(count), pressed: String(pressed), tip: `${who} reacted with ${emoji}` };
  // The row is rebuilt on each change: a button read as it goes reads as null.
  const read = () => button.evaluate((b) => {
    const tip = document.getElementById(b.getAttribute('aria-describedby'));
    return tip && b.isConnected ? {
      count: b.querySelector('.reaction-count').textContent,
      pressed: b.getAttribute('aria-pressed'),
      tip: tip.textContent,
    } : null;
  }, null, { timeout: 2000 });
  const deadline = Date.now() + 2000;
  let got = await read();
  while (JSON.stringify(got) !== JSON.stringify(want) && Date.now() < deadline) {
    await sleep(50);
    got = await read();
  }
  assert.deepEqual(got, want, `${emoji} under "${text}"`);
}

/** Open the chooser from the message's actions, the way a mouse user does. */
async function openChooser(page, text) {
  const row = messageRow(page, text);
  await row.hover();
  await row.locator('.msg-actions').getByRole('button', { name: 'Add reaction' }).click();
  return page.getByRole('group', { name: 'Add a reaction' });
}

test('a reaction round trip between two users', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await openPage('alice');
  const b = await openPage('bob');
  const bot = await env.openBot();
  await bot.send(env.alice.token, env.room.id, ['who wants tea?']);
  await bot.close();
  for (const { page } of [a, b]) await waitForMessage(page, 'who wants tea?');

  // Alice picks 👍 from the chooser of her message.
  const chooser = await openChooser(a.page, 'who wants tea?');
  await chooser.getByRole('button', { name: 'React with 👍' }).click();
  await chooser.waitFor({ state: 'detached' });
  await expectReaction(a.page, 'who wants tea?', '👍', { count: 1, pressed: true, who: 'You' });

  // Bob sees it live, with who reacted on hover.
  await reaction(b.page, 'who wants tea?', '👍').waitFor({ timeout: 2000 });
  await expectReaction(b.page, 'who wants tea?', '👍', { count: 1, pressed: false, who: 'alice' });
  await reaction(b.page, 'who wants tea?', '👍').hover();
  await messageRow(b.page, 'who wants tea?').getByRole('tooltip').waitFor({ state: 'visible', timeout: 2000 });

  // Bob adds his to the same one by clicking it; both pages agree.
  await reaction(b.page, 'who wants tea?', '👍').click();
  await expectReaction(b.page, 'who wants tea?', '👍', { count: 2, pressed: true, who: 'alice and you' });
  await expectReaction(a.page, 'who wants tea?', '👍', { count: 2, pressed: true, who: 'You and bob' });

  // Alice takes hers back.
  await reaction(a.page, 'who wants tea?', '👍').click();
  await expectReaction(a.page, 'who wants tea?', '👍', { count: 1, pressed: false, who: 'bob' });
  await expectReaction(b.page, 'who wants tea?', '👍', { count: 1, pressed: true, who: 'You' });

  // And Bob his: the row is gone on both pages.
  await reaction(b.page, 'who wants tea?', '👍').click();
  for (const { page } of [a, b]) {
    await messageRow(page, 'who wants tea?').locator('.msg-reactions').waitFor({ state: 'detached', timeout: 2000 });
  }
  await closePage(a);
  await closePage(b);
});

test('the chooser by keyboard: a typed reaction, its checks and the server\'s refusal', { timeout: TEST_TIMEOUT_MS }, async () => {
  const bot = await env.openBot();
  const [full] = await bot.send(env.alice.token, env.room.id, ['so many feelings', 'plain']);
  await bot.close();
  // The message already holds as many distinct reactions as the server allows.
  for (let i = 0; i < MAX_DISTINCT; i++) {
    await api(env.server, 'PUT', `/api/rooms/${env.room.id}/messages/${full}/reactions/r${i}`, { token: env.alice.token });
  }
  const b = await openPage('bob');
  await waitForMessage(b.page, 'plain');

  // From the focused message onto its "Add reaction" (focus shows it), Enter opens the chooser on its first emoji.
  const add = messageRow(b.page, 'plain').locator('.msg-actions').getByRole('button', { name: 'Add reaction' });
  await messageRow(b.page, 'plain').focus();
  await add.focus();
  await add.press('Enter');
  const chooser = b.page.getByRole('group', { name: 'Add a reaction' });
  await waitForFocus(chooser.getByRole('button', { name: 'React with 👍' }));
  await b.page.keyboard.press('ArrowRight');
  await waitForFocus(chooser.getByRole('button', { name: 'React with ❤️' }));

  // A typed reaction is checked like the server does before it is sent.
  const other = chooser.getByLabel('Other');
  await other.fill('two words');
  await other.press('Enter');
  await chooser.getByRole('alert').filter({ hasText: 'cannot contain spaces' }).waitFor();
  assert.equal(await other.getAttribute('aria-invalid'), 'true');
  await other.fill('lgtm');
  await other.press('Enter');
  await chooser.waitFor({ state: 'detached' });
  await expectReaction(b.page, 'plain', 'lgtm', { count: 1, pressed: true, who: 'You' });
  await waitForFocus(reaction(b.page, 'plain', 'lgtm'));

  // Escape closes the chooser and puts the keyboard back on the button that opened it.
  const addInRow = messageRow(b.page, 'plain').locator('.msg-reactions').getByRole('button', { name: 'Add reaction' });
  await addInRow.focus();
  await addInRow.press('Enter');
  await waitForFocus(chooser.getByRole('button', { name: 'React with 👍' }));
  await b.page.keyboard.press('Escape');
  await chooser.waitFor({ state: 'detached' });
  await waitForFocus(addInRow);

  // A 21st distinct reaction: the server's refusal shows in the chooser.
  await openChooser(b.page, 'so many feelings');
  await chooser.getByLabel('Other').fill('one-more');
  await chooser.getByRole('button', { name: 'Add', exact: true }).click();
  await chooser.getByRole('alert').filter({ hasText: `at most ${MAX_DISTINCT} distinct` }).waitFor();
  // Any of the twenty stays open to him.
  await reaction(b.page, 'so many feelings', 'r7').click();
  await expectReaction(b.page, 'so many feelings', 'r7', { count: 2, pressed: true, who: 'alice and you' });
  await closePage(b);
});
