// Edits, deletions and room deletions made elsewhere (through the REST
// endpoints the server adds beyond the contract) reach an open page live:
// `messageEdited` replaces the text, `messageDeleted` removes the message,
// `roomDeleted` drops the room.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  TEST_TIMEOUT_MS, api, createRoom, loginViaUI, logTexts, openRoomViaUI, registerUser, roomButton, serverAndBrowser,
  waitForMessage,
} from './helpers.js';

const env = serverAndBrowser();

test('edited, deleted messages and a deleted room update the page live', { timeout: TEST_TIMEOUT_MS }, async () => {
  await registerUser(env.server, 'alice');
  const bob = await registerUser(env.server, 'bob');
  const room = await createRoom(env.server, bob.token, 'changing');
  await createRoom(env.server, bob.token, 'staying');
  const bot = await env.openBot();
  const [first, second] = await bot.send(bob.token, room.id, ['first', 'second with a typo', 'third']);

  const ctx = await env.newContext();
  const page = await ctx.newPage();
  await loginViaUI(page, env.server, 'alice');
  await openRoomViaUI(page, 'changing');
  await waitForMessage(page, 'third');

  const base = `/api/rooms/${room.id}/messages`;
  await api(env.server, 'PATCH', `${base}/${second}`, { token: bob.token, body: { message: 'second, fixed: <b>https://example.org</b>' } });
  await waitForMessage(page, 'second, fixed');
  const edited = page.locator(`#message-log .msg[data-id="${second}"]`);
  assert.equal(await edited.locator('.msg-text').textContent(), 'second, fixed: <b>https://example.org</b>');
  assert.equal(await edited.locator('.msg-edited').count(), 1, 'marked as edited');
  assert.equal(await edited.locator('a').getAttribute('href'), 'https://example.org/');

  await api(env.server, 'DELETE', `${base}/${first}`, { token: bob.token });
  await page.locator(`#message-log .msg[data-id="${first}"]`).waitFor({ state: 'detached' });
  assert.deepEqual(await logTexts(page), ['second, fixed: <b>https://example.org</b>', 'third']);

  await api(env.server, 'DELETE', `/api/rooms/${room.id}`, { token: bob.token });
  await roomButton(page, 'changing').waitFor({ state: 'detached' });
  await page.locator('.toast', { hasText: 'was deleted' }).waitFor();
  // The page moved on to a room that still exists.
  await page.locator('#room-title', { hasText: 'staying' }).waitFor();

  assert.deepEqual(ctx.foreign, []);
  assert.deepEqual(ctx.errors, []);
  await bot.close();
  await ctx.close();
});
