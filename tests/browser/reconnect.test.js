// The server restarts (SIGTERM, then again on the same port and data
// directory) while a page is open. The page shows that it is reconnecting,
// reconnects by itself, and resumes each room from its newest message:
// what was sent while it was away appears exactly once, in order.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  TEST_TIMEOUT_MS, createRoom, loginViaUI, logTexts, openRoomViaUI, registerUser, roomButton, sendViaUI,
  serverAndBrowser, sleep, waitConnected, waitForMessage,
} from './helpers.js';

const env = serverAndBrowser();

test('after a server restart the page reconnects and resumes without loss or duplicates', { timeout: TEST_TIMEOUT_MS }, async () => {
  const alice = await registerUser(env.server, 'alice');
  const bob = await registerUser(env.server, 'bob');
  const room = await createRoom(env.server, alice.token, 'resume');
  const other = await createRoom(env.server, alice.token, 'elsewhere');
  const bot = await env.openBot();

  const ctx = await env.newContext();
  const page = await ctx.newPage();
  await loginViaUI(page, env.server, 'alice');
  await openRoomViaUI(page, 'resume');

  const before = ['before 1', 'before 2', 'before 3'];
  await bot.send(bob.token, room.id, before);
  await waitForMessage(page, 'before 3');
  // A room not on screen, whose newest message the page has seen live.
  await bot.send(bob.token, other.id, ['elsewhere before']);
  await roomButton(page, 'elsewhere').locator('.badge', { hasText: '1' }).waitFor();

  // Stop the server; the page notices and says so.
  await env.server.stop();
  await page.locator('#conn-status[data-state="reconnecting"]').waitFor();

  // Hold the page offline while the server comes back, so the messages
  // below are certainly sent while the page is disconnected.
  await ctx.setOffline(true);
  await env.restart();

  const away = ['while away 1', 'while away 2', 'while away 3', 'while away 4', 'while away 5'];
  await bot.send(bob.token, room.id, away);
  await bot.send(bob.token, other.id, ['elsewhere while away']);
  await sleep(300);
  assert.equal(await page.locator('#conn-status').getAttribute('data-state'), 'reconnecting');
  assert.deepEqual(await logTexts(page), before, 'nothing arrived while disconnected');

  // Sending while disconnected queues the message (shown as waiting); it
  // is sent once the page is back, after the catch-up.
  const box = page.getByRole('textbox', { name: 'Message', exact: true });
  await box.fill('written while away');
  await box.press('Enter');
  await page.locator('#outbox-log .msg-text', { hasText: 'written while away' }).waitFor();
  assert.equal(await box.inputValue(), '');

  // Back online: the page reconnects by itself and catches up.
  await ctx.setOffline(false);
  await waitConnected(page, 30000);
  await waitForMessage(page, 'while away 5');
  await waitForMessage(page, 'written while away');

  // Live messages keep flowing after the catch-up, both ways.
  await bot.send(bob.token, room.id, ['after 1', 'after 2']);
  await waitForMessage(page, 'after 2');
  await sendViaUI(page, 'alice is back');
  await waitForMessage(page, 'alice is back');
  await sleep(300); // give any stray duplicate time to show up

  const texts = await logTexts(page);
  assert.deepEqual(texts, [...before, ...away, 'written while away', 'after 1', 'after 2', 'alice is back']);
  const ids = await page.$$eval('#message-log .msg', (n) => n.map((m) => m.dataset.id));
  assert.equal(new Set(ids).size, ids.length, 'no message shown twice');

  // The room not on screen resumed too: its catch-up counts as unread.
  await roomButton(page, 'elsewhere').locator('.badge', { hasText: '2' }).waitFor();

  // A reload after all this shows the same history from the server.
  await page.reload();
  await waitConnected(page);
  await openRoomViaUI(page, 'resume');
  await waitForMessage(page, 'alice is back');
  assert.deepEqual(await logTexts(page), texts);

  assert.deepEqual(ctx.foreign, []);
  assert.deepEqual(ctx.errors, []);
  await bot.close();
  await ctx.close();
});

test('a plain restart with the page online also resumes cleanly', { timeout: TEST_TIMEOUT_MS }, async () => {
  const bob = await registerUser(env.server, 'bob2');
  const ctx = await env.newContext();
  const page = await ctx.newPage();
  await loginViaUI(page, env.server, 'alice');
  await openRoomViaUI(page, 'resume');
  await waitForMessage(page, 'alice is back');
  const start = await logTexts(page);
  const roomId = await page.locator('#room-list .room-btn[aria-current="page"]').getAttribute('data-room-id');

  const bot = await env.openBot();
  await env.restart();
  // Sent as soon as the server is back; the page reconnects on its own
  // schedule, before, during or after these.
  await bot.send(bob.token, roomId, ['restart 1', 'restart 2', 'restart 3']);
  await waitConnected(page, 30000);
  await waitForMessage(page, 'restart 3', 30000);
  await bot.send(bob.token, roomId, ['restart 4']);
  await waitForMessage(page, 'restart 4');
  await sleep(300);

  assert.deepEqual(await logTexts(page), [...start, 'restart 1', 'restart 2', 'restart 3', 'restart 4']);
  assert.deepEqual(ctx.foreign, []);
  assert.deepEqual(ctx.errors, []);
  await bot.close();
  await ctx.close();
});
