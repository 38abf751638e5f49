// Searching the history from the web client (GET /api/search): `/` or
// Ctrl+F puts the keyboard in the search box; typing lists the matching
// messages grouped by room, newest room first, with the matched words
// marked (the last word may be the start of one, accents do not matter);
// filters keep to a room or a person; "More results" pages on; a result
// opens its room at the message, marked. A private room the user is not in
// is never searched. A slow answer to an older question never replaces the
// newer one's.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PASSWORD, TEST_TIMEOUT_MS, UI_TIMEOUT_MS, api, axe, createAdmin, createRoom, openWithToken, registerUser, serverAndBrowser, sleep, waitForFocus,
} from './helpers.js';

/** Newer messages after the old one the search must still find. */
const NEWER = 200;
/** The server's page of results. */
const PAGE = 20;
/** A message is searchable within a second of its ack; seeding waits at most this long for the last one. */
const INDEX_WAIT_MS = 10000;

const world = {};
const env = serverAndBrowser({ setup: seed });

async function seed() {
  world.alice = await registerUser(env.server, 'alice');
  world.bob = await registerUser(env.server, 'bob');
  world.carol = await registerUser(env.server, 'carol');
  world.general = await createRoom(env.server, world.alice.token, 'general');
  world.kitchen = await createRoom(env.server, world.bob.token, 'kitchen');
  world.secret = await createRoom(env.server, world.carol.token, 'secret', { private: true });
  const bot = await env.openBot();
  [world.oldId] = await bot.send(world.bob.token, world.general.id, ['The raspberry tart recipe is in the wiki']);
  const filler = Array.from({ length: NEWER }, (_, i) => `filler message ${i + 1}`);
  world.fillerIds = await bot.send(world.bob.token, world.general.id, filler, { inFlight: 10 });
  [world.cafeId] = await bot.send(world.carol.token, world.general.id, ['Meet at the café at noon']);
  [world.secretId] = await bot.send(world.carol.token, world.secret.id, ['raspberry plans nobody else reads']);
  [world.jamId] = await bot.send(world.carol.token, world.kitchen.id, ['Raspberry jam is ready']);
  await bot.close();
  await waitIndexed(world.carol.token, 'jam', world.jamId);
}

/** Bounded: until the search finds message `id` for `q`. */
async function waitIndexed(token, q, id) {
  const deadline = Date.now() + INDEX_WAIT_MS;
  for (;;) {
    const found = await api(env.server, 'GET', `/api/search?q=${encodeURIComponent(q)}`, { token });
    if (found.results.some((r) => r.message.id === id)) return;
    assert.ok(Date.now() < deadline, `message ${id} was not searchable within ${INDEX_WAIT_MS} ms`);
    await sleep(100);
  }
}

/** Alice's page (a saved token, as after a previous visit), in `general`. */
async function openApp(options = {}) {
  const { ctx, page } = await openWithToken(env, world.alice.token, world.general.id, options);
  await page.locator('#room-title', { hasText: 'general' }).waitFor();
  return { ctx, page };
}

const box = (page) => page.getByRole('searchbox', { name: 'Search messages' });
const panel = (page) => page.locator('#search-panel');
const status = (page) => page.locator('#search-status');

/** Type `q` into the box and wait for the answer to it. */
async function searchFor(page, q) {
  await box(page).fill(q);
  await page.locator('#search-results[aria-busy="false"]:not(.stale)').waitFor({ state: 'attached' });
  await page.waitForFunction(() => !/Searching/.test(document.getElementById('search-status').textContent), null,
    { timeout: UI_TIMEOUT_MS });
}

/** What the panel shows: [{room, hits: [{author, text, marks}]}], in order. */
function shown(page) {
  return page.locator('#search-results .search-group').evaluateAll((groups) => groups.map((g) => ({
    room: g.querySelector('.search-room').textContent,
    hits: [...g.querySelectorAll('.search-hit')].map((h) => ({
      id: h.dataset.id,
      author: h.querySelector('.search-hit-author').textContent,
      text: h.querySelector('.search-hit-text').textContent,
      marks: [...h.querySelectorAll('mark')].map((m) => m.textContent),
    })),
  })));
}

test('/ puts the keyboard in the box; a word\'s start finds it in every readable room, grouped, marked', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { ctx, page } = await openApp();
  await page.locator('#message-log .msg').last().focus();
  await page.keyboard.press('/');
  await waitForFocus(box(page));
  assert.equal(await box(page).inputValue(), '', 'the / is not typed into the box');
  assert.ok(await panel(page).isVisible(), 'the panel opens with the box');

  await page.keyboard.type('rasp');
  await searchFor(page, 'rasp');
  const groups = await shown(page);
  assert.deepEqual(groups.map((g) => g.room), ['kitchen', 'general'], 'grouped by room, the newest result\'s room first');
  assert.deepEqual(groups[0].hits.map((h) => [h.author, h.text, h.marks]), [['carol', 'Raspberry jam is ready', ['Raspberry']]]);
  assert.deepEqual(groups[1].hits.map((h) => [h.id, h.marks]), [[world.oldId, ['raspberry']]], 'the old message is found');
  assert.equal(await page.locator(`.search-hit[data-id="${world.secretId}"]`).count(), 0, 'a private room alice is not in');
  assert.match(await status(page).textContent(), /2 messages found/);

  // Accents do not matter, and the marked word is the one written.
  await searchFor(page, 'CAFE');
  assert.deepEqual((await shown(page)).map((g) => [g.room, g.hits.map((h) => h.marks)]), [['general', [['café']]]]);

  await searchFor(page, 'zzzzqqq');
  assert.equal(await status(page).textContent(), 'No messages match.');
  assert.equal(await page.locator('.search-hit').count(), 0);

  // Escape closes the panel and the keyboard goes back to the message it came from.
  await page.keyboard.press('Escape');
  await panel(page).waitFor({ state: 'hidden' });
  await waitForFocus(page.locator('#message-log .msg').last());
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('Ctrl+F focuses the box; the room and person filters narrow the results', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { ctx, page } = await openApp();
  await page.locator('#composer-input').focus();
  await page.keyboard.press('Control+f');
  await waitForFocus(box(page));
  await searchFor(page, 'raspberry');
  assert.equal((await shown(page)).length, 2);

  await page.getByLabel('Room', { exact: true }).selectOption({ label: 'general' });
  await page.waitForFunction(() => document.querySelectorAll('#search-results .search-group').length === 1, null,
    { timeout: UI_TIMEOUT_MS });
  assert.deepEqual((await shown(page)).map((g) => [g.room, g.hits.map((h) => h.id)]), [['general', [world.oldId]]]);

  // Back to every room, then only carol's messages (picked from the suggestions).
  await page.getByLabel('Room', { exact: true }).selectOption({ label: 'All rooms' });
  await page.waitForFunction(() => document.querySelectorAll('#search-results .search-group').length === 2, null,
    { timeout: UI_TIMEOUT_MS });
  const from = page.locator('#search-from');
  await from.fill('car');
  await page.locator('#search-from-options .picker-option', { hasText: 'carol' }).click();
  await page.waitForFunction(() => document.querySelectorAll('#search-results .search-group').length === 1, null,
    { timeout: UI_TIMEOUT_MS });
  assert.deepEqual((await shown(page)).map((g) => [g.room, g.hits.map((h) => h.author)]), [['kitchen', ['carol']]]);

  // Typed filters work as well.
  await page.getByRole('button', { name: /Remove carol/ }).click();
  await searchFor(page, 'raspberry in:general from:bob');
  assert.deepEqual((await shown(page)).map((g) => [g.room, g.hits.map((h) => h.id)]), [['general', [world.oldId]]]);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('a result opens its room at the message, marked; Down and Enter do it from the keyboard', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { ctx, page } = await openApp();
  // From another room, by the mouse.
  await page.locator('#sidebar .room-btn', { hasText: 'kitchen' }).click();
  await page.locator('#room-title', { hasText: 'kitchen' }).waitFor();
  await box(page).click();
  await searchFor(page, 'tart');
  await page.locator(`.search-hit[data-id="${world.oldId}"]`).click();
  await panel(page).waitFor({ state: 'hidden' });
  await page.locator('#room-title', { hasText: 'general' }).waitFor();
  const row = page.locator(`#message-log .msg[data-id="${world.oldId}"]`);
  await row.and(page.locator('.anchored[aria-current="true"]')).waitFor();
  await waitForFocus(row);
  assert.ok(await row.isVisible(), 'the message is in view');
  assert.equal(await page.locator(`#message-log .msg[data-id="${world.fillerIds.at(-1)}"]`).count(), 0,
    'opened at the old message, not at the newest');

  // By the keyboard: Down goes to the first result, Up back to the box, Enter opens.
  await page.keyboard.press('/');
  await waitForFocus(box(page));
  await searchFor(page, 'jam');
  await page.keyboard.press('ArrowDown');
  await waitForFocus(page.locator(`.search-hit[data-id="${world.jamId}"]`));
  await page.keyboard.press('ArrowUp');
  await waitForFocus(box(page));
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.locator('#room-title', { hasText: 'kitchen' }).waitFor();
  await page.locator(`#message-log .msg.anchored[data-id="${world.jamId}"]`).waitFor();
  assert.ok(await panel(page).isHidden());
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('More results pages on; a refused query says why', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { ctx, page } = await openApp();
  await box(page).focus();
  await searchFor(page, 'filler');
  assert.equal(await page.locator('.search-hit').count(), PAGE);
  // Newest first (ids are written in order; a few were in flight at once while seeding).
  const newest = [...world.fillerIds].sort().at(-1);
  assert.equal(await page.locator('.search-hit').first().getAttribute('data-id'), newest);
  const more = page.getByRole('button', { name: 'More results' });
  await more.focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction((n) => document.querySelectorAll('.search-hit').length === n, PAGE * 2, { timeout: UI_TIMEOUT_MS });
  const ids = await page.locator('.search-hit').evaluateAll((hs) => hs.map((h) => h.dataset.id));
  assert.equal(new Set(ids).size, ids.length, 'no result twice');
  // The keyboard is on the first result of the new page.
  await waitForFocus(page.locator(`.search-hit[data-id="${ids[PAGE]}"]`));

  const tooMany = Array.from({ length: 17 }, (_, i) => `word${i}`).join(' ');
  await searchFor(page, tooMany);
  assert.match(await page.locator('#search-error').textContent(), /^That search cannot run/);
  assert.equal(await page.locator('.search-hit').count(), 0);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('a slow answer to an older question never replaces the newer one', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { ctx, page } = await openApp();
  // The answer for "rasp" is held back until after the one for "cafe" arrived.
  await page.route(/\/api\/search\?q=rasp(&|$)/, async (route) => {
    await sleep(1500);
    await route.continue().catch(() => {});
  });
  await box(page).focus();
  await box(page).fill('rasp');
  await sleep(400); // past the pause: "rasp" is asked
  await searchFor(page, 'cafe');
  await sleep(1800);
  assert.deepEqual((await shown(page)).map((g) => g.hits.map((h) => h.id)), [[world.cafeId]]);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('an admin finds a private room\'s message but, not in the room, is told it cannot be opened', { timeout: TEST_TIMEOUT_MS }, async () => {
  await createAdmin(env.server, 'dana');
  const dana = await api(env.server, 'POST', '/api/users/login', { body: { username: 'dana', password: PASSWORD } });
  const { ctx, page } = await openWithToken(env, dana.token, world.general.id);
  await box(page).focus();
  await searchFor(page, 'plans');
  const hit = page.locator(`.search-hit[data-id="${world.secretId}"]`);
  await hit.click();
  assert.match(await page.locator('#search-error').textContent(), /“secret” is not in your room list/);
  assert.ok(await panel(page).isVisible(), 'the results stay');
  assert.equal(await page.locator('#message-log .msg.anchored').count(), 0, 'no other room opened in its place');
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('axe: the open results, light and dark, wide and on a phone', { timeout: TEST_TIMEOUT_MS }, async () => {
  const found = [];
  for (const colorScheme of ['light', 'dark']) {
    for (const [layout, options] of [['wide', {}], ['phone', { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true }]]) {
      const { ctx, page } = await openApp({ colorScheme, ...options });
      await box(page).focus();
      await searchFor(page, 'rasp');
      const { counts, bad } = await axe(page);
      console.log(`axe search results, ${colorScheme}, ${layout}: ${JSON.stringify(counts)}`);
      found.push(...bad.map((v) => ({ colorScheme, layout, ...v })));
      await ctx.close();
    }
  }
  assert.deepEqual(found, [], 'serious or critical axe violations');
});
