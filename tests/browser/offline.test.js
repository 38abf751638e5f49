// Nothing typed offline is lost: messages sent while the server is down
// wait in order as pending, survive a reload of the tab (which opens from
// the service worker's cache and says "offline" instead of the browser's
// error page), and are delivered exactly once when the server is back.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import {
  SCREENSHOT_DIR, TEST_TIMEOUT_MS, api, createRoom, loginViaUI, logTexts, openRoomViaUI, registerUser, sendViaUI,
  serverAndBrowser, sleep, waitConnected, waitForMessage,
} from './helpers.js';

const env = serverAndBrowser();

const pendingTexts = (page) => page.$$eval('#outbox-log .msg .msg-text', (n) => n.map((m) => m.textContent));

async function history(token, roomId) {
  const page = await api(env.server, 'GET', `/api/rooms/${roomId}/messages?limit=200`, { token });
  return page.messages.map((m) => m.message);
}

test('messages sent while the server is down are queued, survive a reload, and arrive once', { timeout: TEST_TIMEOUT_MS }, async () => {
  const alice = await registerUser(env.server, 'alice');
  const bob = await registerUser(env.server, 'bob');
  const room = await createRoom(env.server, alice.token, 'outbox');
  const bot = await env.openBot();
  await bot.send(bob.token, room.id, ['hello before the outage']);
  await bot.close();

  const ctx = await env.newContext();
  const page = await ctx.newPage();
  await loginViaUI(page, env.server, 'alice');
  await openRoomViaUI(page, 'outbox');
  await waitForMessage(page, 'hello before the outage');
  // The service worker has installed (its cache filled) and controls the page.
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15000 });

  await env.server.stop();
  await page.locator('#conn-status[data-state="reconnecting"]').waitFor();

  const queued = ['queued 1', 'queued 2: second', 'queued 3, last'];
  for (const text of queued) await sendViaUI(page, text); // the box clears: taken by the outbox
  assert.deepEqual(await pendingTexts(page), queued, 'pending, in order');
  assert.equal(await page.locator('#outbox-log .msg-status', { hasText: 'Waiting for the connection' }).count(), 3);
  assert.deepEqual(await logTexts(page), ['hello before the outage'], 'nothing shown as sent');
  assert.equal(await page.locator('#composer-error').textContent(), '');
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'offline-queue.png') });

  // A reload while the server is down opens from the service worker's cache.
  const res = await page.reload();
  assert.ok(res === null || res.fromServiceWorker(), 'the page came from the service worker');
  await page.locator('#splash-text', { hasText: 'Offline' }).waitFor();
  const splashQueue = await page.$$eval('.splash-outbox-list .msg-text', (n) => n.map((m) => m.textContent));
  assert.deepEqual(splashQueue, queued, 'the queue survived the reload, in order');
  await page.locator('#splash-outbox', { hasText: '3 messages wait to be sent' }).waitFor();
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'offline-reload.png') });

  // Server back: the page starts by itself and sends each message once.
  await env.restart();
  await waitConnected(page, 30000);
  await openRoomViaUI(page, 'outbox');
  await waitForMessage(page, 'queued 3, last', 20000);
  await page.locator('#outbox-log').waitFor({ state: 'hidden' });
  await sleep(500); // time for a stray second send to show up
  assert.deepEqual(await logTexts(page), ['hello before the outage', ...queued]);
  assert.deepEqual(await history(alice.token, room.id), ['hello before the outage', ...queued], 'stored exactly once');
  const left = await page.evaluate(() => JSON.parse(sessionStorage.getItem('chatroom.outbox')).entries.length);
  assert.equal(left, 0);

  assert.deepEqual(ctx.foreign, []);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('a send cut off before its ack is not sent twice', { timeout: TEST_TIMEOUT_MS }, async () => {
  const login = await registerUser(env.server, 'carol');
  const room = await createRoom(env.server, login.token, 'in-doubt');
  const bot = await env.openBot();
  const [cursor] = await bot.send(login.token, room.id, ['before']);

  const ctx = await env.newContext();
  const page = await ctx.newPage();
  await loginViaUI(page, env.server, 'carol');
  await openRoomViaUI(page, 'in-doubt');
  await waitForMessage(page, 'before');

  // Two sends whose connection dropped before the ack: the server stored
  // the first (here sent by another connection of carol's), not the second.
  await bot.send(login.token, room.id, ['stored, ack lost']);
  await bot.close();
  await page.evaluate(({ userId, roomId, after }) => {
    const entry = (clientId, text) => ({
      clientId, roomId, roomName: 'in-doubt', text, at: new Date().toISOString(), state: 'sending', after, error: '',
    });
    sessionStorage.setItem('chatroom.outbox', JSON.stringify({
      userId, entries: [entry('c-1', 'stored, ack lost'), entry('c-2', 'never stored')],
    }));
  }, { userId: login.user.id, roomId: room.id, after: cursor });
  await page.reload();
  await waitConnected(page);
  await openRoomViaUI(page, 'in-doubt');
  await waitForMessage(page, 'never stored');
  await page.locator('#outbox-log').waitFor({ state: 'hidden' });
  await sleep(500);
  assert.deepEqual(await history(login.token, room.id), ['before', 'stored, ack lost', 'never stored']);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});
