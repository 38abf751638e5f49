// Scrolling up in a long room loads older history page by page until the
// first message, with every message shown once and in order.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  TEST_TIMEOUT_MS, UI_TIMEOUT_MS, createRoom, loginViaUI, logTexts, openRoomViaUI, registerUser, serverAndBrowser,
  sleep, waitForMessage,
} from './helpers.js';

const SEEDED = 120;

const env = serverAndBrowser();

test('scrolling up loads older messages until the beginning', { timeout: TEST_TIMEOUT_MS }, async () => {
  const alice = await registerUser(env.server, 'alice');
  const bob = await registerUser(env.server, 'bob');
  const room = await createRoom(env.server, alice.token, 'long-history');
  const texts = Array.from({ length: SEEDED }, (_, i) => `history message ${String(i + 1).padStart(3, '0')}`);
  const bot = await env.openBot();
  await bot.send(bob.token, room.id, texts);
  await bot.close();

  const ctx = await env.newContext();
  const page = await ctx.newPage();
  await loginViaUI(page, env.server, 'alice');
  await openRoomViaUI(page, 'long-history');
  await waitForMessage(page, texts.at(-1));

  // Only the newest page(s) at first.
  const first = await logTexts(page);
  assert.ok(first.length < SEEDED, `expected a partial first load, got ${first.length}`);
  assert.deepEqual(first, texts.slice(SEEDED - first.length));
  const scroller = page.locator('#log-scroll');
  assert.ok(await scroller.evaluate((n) => n.scrollTop > 0), 'starts scrolled to the newest message');

  // Scroll to the top until the start of the room shows (bounded).
  const deadline = Date.now() + UI_TIMEOUT_MS * 2;
  while (!(await page.locator('#log-start').isVisible())) {
    assert.ok(Date.now() < deadline, 'older history did not finish loading');
    await scroller.evaluate((n) => { n.scrollTop = 0; });
    await sleep(150);
  }

  const all = await logTexts(page);
  assert.equal(all.length, SEEDED);
  assert.deepEqual(all, texts);
  const ids = await page.$$eval('#message-log .msg', (n) => n.map((m) => m.dataset.id));
  assert.equal(new Set(ids).size, SEEDED, 'no duplicated message ids');

  // Prepending kept the reader near the top instead of jumping to the end.
  assert.ok(await scroller.evaluate((n) => n.scrollTop < n.scrollHeight / 2));

  assert.deepEqual(ctx.foreign, []);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});
