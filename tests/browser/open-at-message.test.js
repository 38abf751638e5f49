// A link to a message (`/?room=ID&message=MID`) or a clicked notification
// opens the room at that message: shown in the middle, marked and focused,
// with older history above and newer below loading as the reader scrolls,
// until the newest message, where the room is live again (or at once with
// *Jump to latest*; live messages wait meanwhile). A message that
// is gone opens the room at its newest messages and says so.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  TEST_TIMEOUT_MS, UI_TIMEOUT_MS, createRoom, loginViaUI, registerUser, serverAndBrowser, sleep, waitConnected,
  waitForMessage,
} from './helpers.js';

const SEEDED = 300;
const AT = 99; // the 100th message

const env = serverAndBrowser();
const world = {};

/** Seed once: a long room, and another room whose message the first does not hold. */
async function seed() {
  if (world.ids) return;
  world.alice = await registerUser(env.server, 'alice');
  world.bob = await registerUser(env.server, 'bob');
  world.room = await createRoom(env.server, world.alice.token, 'long-room');
  world.other = await createRoom(env.server, world.alice.token, 'other-room');
  world.texts = Array.from({ length: SEEDED }, (_, i) => `seeded message ${String(i + 1).padStart(3, '0')}`);
  const bot = await env.openBot();
  world.ids = await bot.send(world.bob.token, world.room.id, world.texts);
  [world.foreignId] = await bot.send(world.bob.token, world.other.id, ['elsewhere']);
  await bot.close();
}

const rowOf = (page, id) => page.locator(`#message-log .msg[data-id="${id}"]`);

/** A logged-in page (alice) at `path`. */
async function openAt(path, options = {}) {
  const ctx = await env.newContext(options);
  const page = await ctx.newPage();
  await loginViaUI(page, env.server, 'alice');
  await page.goto(`${env.server.url}${path}`);
  await waitConnected(page);
  return { ctx, page };
}

/** Scroll the log to one end (`top` or `bottom`) until `done()` holds (bounded). */
async function scrollUntil(page, end, done) {
  const scroller = page.locator('#log-scroll');
  const deadline = Date.now() + UI_TIMEOUT_MS * 2;
  while (!(await done())) {
    assert.ok(Date.now() < deadline, `scrolling to the ${end} did not get there`);
    await scroller.evaluate((n, e) => { n.scrollTop = e === 'top' ? 0 : n.scrollHeight; }, end);
    await sleep(150);
  }
}

/** The anchored message: visible, marked, focused, and the only one marked. */
async function assertAnchored(page, id) {
  const row = rowOf(page, id);
  await row.and(page.locator('.anchored[aria-current="true"]')).waitFor();
  assert.ok(await row.isVisible(), 'the message is in view');
  await page.waitForFunction((mid) => document.activeElement?.dataset?.id === mid, id, { timeout: UI_TIMEOUT_MS });
  assert.equal(await page.locator('#message-log .anchored').count(), 1);
}

test('a link to a message opens the room there, and scrolling reaches both ends, then live', { timeout: TEST_TIMEOUT_MS }, async () => {
  await seed();
  const { ids, texts } = world;
  const { ctx, page } = await openAt(`/?room=${world.room.id}&message=${ids[AT]}`);
  await assertAnchored(page, ids[AT]);
  assert.equal(new URL(page.url()).search, '', 'the address is clean again');
  await rowOf(page, ids[AT - 1]).waitFor();
  await rowOf(page, ids[AT + 1]).waitFor();
  assert.equal(await rowOf(page, ids.at(-1)).count(), 0, 'the newest messages are not loaded yet');
  assert.ok(await page.locator('#jump-latest').isVisible(), 'the way to the newest is offered');

  await scrollUntil(page, 'top', () => page.locator('#log-start').isVisible());
  await rowOf(page, ids[0]).waitFor();
  await scrollUntil(page, 'bottom', async () => (await rowOf(page, ids.at(-1)).count()) > 0);
  // Every message once, in order, between the two ends.
  const shown = await page.$$eval('#message-log .msg', (n) => n.map((m) => m.dataset.id));
  assert.equal(new Set(shown).size, shown.length, 'no duplicated rows');
  assert.deepEqual(shown, [...shown].sort(), 'rows in order');

  // Live again: a new message appears at the bottom.
  const bot = await env.openBot();
  await bot.send(world.bob.token, world.room.id, ['a live one']);
  await bot.close();
  await waitForMessage(page, 'a live one');
  const last = await page.$$eval('#message-log .msg .msg-text', (n) => n.at(-1).textContent);
  assert.equal(last, 'a live one');
  assert.ok(texts.length === SEEDED);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('a message the room does not hold opens its newest messages and says so', { timeout: TEST_TIMEOUT_MS }, async () => {
  await seed();
  const { ctx, page } = await openAt(`/?room=${world.room.id}&message=${world.foreignId}`);
  await page.locator('#toasts', { hasText: 'That message is no longer there' }).waitFor();
  await waitForMessage(page, world.texts.at(-1));
  assert.equal(await page.locator('#message-log .anchored').count(), 0);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('a clicked notification with a message opens the open tab at that message', { timeout: TEST_TIMEOUT_MS }, async () => {
  await seed();
  const { ctx, page } = await openAt(`/?room=${world.other.id}`, { permissions: ['notifications'] });
  await waitForMessage(page, 'elsewhere');
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  const sw = ctx.serviceWorkers()[0] || await ctx.waitForEvent('serviceworker', { timeout: UI_TIMEOUT_MS });
  const target = world.ids[150];
  await sw.evaluate(({ roomId, messageId }) => self.openRoomFromNotification({ roomId, messageId }),
    { roomId: world.room.id, messageId: target });
  await assertAnchored(page, target);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('opened at a message, a live one waits for the newest page, which Jump to latest loads', { timeout: TEST_TIMEOUT_MS }, async () => {
  await seed();
  const { ids } = world;
  const { ctx, page } = await openAt(`/?room=${world.room.id}&message=${ids[AT]}`);
  await assertAnchored(page, ids[AT]);
  const bot = await env.openBot();
  await bot.send(world.bob.token, world.room.id, ['live while away']);
  await bot.close();
  await sleep(500);
  assert.equal(await page.locator('#message-log .msg-text', { hasText: 'live while away' }).count(), 0,
    'not appended after older messages');
  await page.locator('#jump-latest').click();
  await waitForMessage(page, 'live while away');
  const last = await page.$$eval('#message-log .msg .msg-text', (n) => n.at(-1).textContent);
  assert.equal(last, 'live while away');
  await rowOf(page, ids.at(-1)).waitFor();
  assert.equal(await page.locator('#message-log .anchored').count(), 0);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});
