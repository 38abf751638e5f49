// Finding a room: the sidebar holds one line per room, so 20 and more fit a
// laptop screen; a filter box narrows rooms and conversations by name; Ctrl+K
// opens a quick switcher worked by the keyboard alone; and the first screen is
// the room last visited on this device, else the public room with the newest
// message (also after the open room is deleted).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  api, createRoom, loginViaUI, registerUser, roomButton, serverAndBrowser, waitForFocus,
} from './helpers.js';

/** Each test stays well under 20 s. */
const TEST_MS = 20000;
/** How long a change may take to show. */
const SHOW_MS = 5000;
const LAPTOP = { width: 1280, height: 720 };
const name = (i) => `room-${String(i).padStart(2, '0')}`;

/** Bob's 25 public rooms, a few with messages (room-13's the newest), and a private room newer still. */
const env = serverAndBrowser({
  async setup(e) {
    e.alice = await registerUser(e.server, 'alice');
    e.bob = await registerUser(e.server, 'bob');
    e.rooms = {};
    for (let i = 1; i <= 25; i++) e.rooms[name(i)] = await createRoom(e.server, e.bob.token, name(i));
    e.secret = await createRoom(e.server, e.bob.token, 'aaa-secret', { private: true });
    await api(e.server, 'POST', `/api/rooms/${e.secret.id}/members`, { token: e.bob.token, body: { username: 'alice' } });
    const bot = await e.openBot();
    for (const room of ['room-07', 'room-22', 'room-13']) await bot.send(e.bob.token, e.rooms[room].id, [`news in ${room}`]);
    await bot.send(e.bob.token, e.secret.id, ['newest of all, but private']);
    await bot.close();
  },
});

async function openPage() {
  const ctx = await env.newContext({ viewport: LAPTOP });
  const page = await ctx.newPage();
  await loginViaUI(page, env.server, 'alice');
  return { ctx, page };
}

async function closePage({ ctx }) {
  assert.deepEqual(ctx.foreign, [], 'requests to other hosts');
  assert.deepEqual(ctx.errors, [], 'page errors or CSP violations');
  await ctx.close();
}

const title = (page, text) => page.locator('#room-title', { hasText: new RegExp(`^${text}$`) }).waitFor({ timeout: SHOW_MS });

/** The rows of the room list wholly inside the sidebar and the window, and every row's height. */
function visibleRows(page) {
  return page.evaluate(() => {
    const box = document.getElementById('sidebar').getBoundingClientRect();
    const rows = [...document.querySelectorAll('#room-list .room-btn')].map((b) => b.getBoundingClientRect());
    const inside = rows.filter((r) => r.top >= box.top && r.bottom <= Math.min(box.bottom, window.innerHeight));
    return { visible: inside.length, heights: rows.map((r) => r.height) };
  });
}

test('first screen: newest public room, then the last visited, then the rule again after a deletion; 20+ rows fit', { timeout: TEST_MS }, async () => {
  const p = await openPage();
  // Not the alphabetically first (room-01, or the private aaa-secret): the public room with the newest message.
  await title(p.page, 'room-13');

  const { visible, heights } = await visibleRows(p.page);
  console.log(`sidebar at 1280x720: ${visible} of ${heights.length} rows fully visible, tallest ${Math.max(...heights)} px`);
  assert.ok(visible >= 20, `${visible} rows fully visible`);
  assert.ok(heights.every((h) => h <= 36), `row heights ${heights.join(',')}`);

  // The last visited room on this device wins on the next visit.
  await roomButton(p.page, 'room-03').click();
  await title(p.page, 'room-03');
  await p.page.reload();
  await title(p.page, 'room-03');

  // The open room is deleted: the newest public room again.
  await api(env.server, 'DELETE', `/api/rooms/${env.rooms['room-03'].id}`, { token: env.bob.token });
  await title(p.page, 'room-13');
  await closePage(p);
});

test('a room picked while the first screen is being worked out stays open', { timeout: TEST_MS }, async () => {
  const ctx = await env.newContext({ viewport: LAPTOP });
  const page = await ctx.newPage();
  // The questions for each room's newest message are held until a room is picked.
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  let asked = 0;
  let answered = 0;
  await page.route(/\/api\/rooms\/[^/]+\/messages\?(.*&)?limit=1(&|$)/, async (route) => {
    asked++;
    await held;
    await route.fulfill({ response: await route.fetch() });
    answered++;
  });
  await loginViaUI(page, env.server, 'alice');
  await roomButton(page, 'room-05').click();
  await title(page, 'room-05');
  release();
  const deadline = Date.now() + SHOW_MS;
  while (asked === 0 || answered < asked) {
    assert.ok(Date.now() < deadline, `${answered} of ${asked} newest-message questions answered`);
    await page.waitForTimeout(50);
  }
  // The ranking is done and chose room-13; the page keeps the room picked meanwhile.
  await page.waitForTimeout(300);
  assert.equal(await page.locator('#room-title').textContent(), 'room-05');
  await closePage({ ctx, page });
});

test('the filter box narrows the list; its arrow keys and Escape', { timeout: TEST_MS }, async () => {
  const p = await openPage();
  const { page } = p;
  const filter = page.getByRole('searchbox', { name: 'Filter rooms' });
  await filter.fill('ROOM-1');
  const shown = page.locator('#room-list li:not([hidden]) .room-name');
  await page.waitForFunction(() => document.querySelectorAll('#room-list li:not([hidden])').length === 10, null, { timeout: SHOW_MS });
  assert.deepEqual(await shown.allTextContents(), Array.from({ length: 10 }, (_, i) => name(10 + i)));
  assert.ok(await page.locator('#dm-list li:not([hidden])').count() === 0);

  // Down from the box reaches the first match; the list's arrows skip the hidden rooms.
  await filter.press('ArrowDown');
  await waitForFocus(roomButton(page, 'room-10'), SHOW_MS);
  await page.keyboard.press('ArrowDown');
  await waitForFocus(roomButton(page, 'room-11'), SHOW_MS);
  await page.keyboard.press('Enter');
  await title(page, 'room-11');

  await filter.fill('no such room');
  await page.locator('#room-filter-status', { hasText: 'No rooms match.' }).waitFor({ timeout: SHOW_MS });
  // Up from the first room reaches the box (not a Tab stop of its own); Escape clears it.
  await filter.fill('room-2');
  await filter.press('ArrowDown');
  await waitForFocus(roomButton(page, 'room-20'), SHOW_MS);
  await page.keyboard.press('ArrowUp');
  await waitForFocus(filter, SHOW_MS);
  await filter.press('Escape');
  assert.equal(await filter.inputValue(), '');
  await page.waitForFunction(() => document.querySelectorAll('#room-list li:not([hidden])').length >= 24, null, { timeout: SHOW_MS });
  await closePage(p);
});

test('Ctrl+K: a quick switcher worked by the keyboard alone', { timeout: TEST_MS }, async () => {
  const p = await openPage();
  const { page } = p;
  await title(page, 'room-13');
  const composer = page.getByRole('textbox', { name: 'Message', exact: true });
  await composer.focus();

  await page.keyboard.press('Control+k');
  const dialog = page.getByRole('dialog', { name: 'Go to a room' });
  await dialog.waitFor({ timeout: SHOW_MS });
  const field = dialog.getByRole('combobox');
  await waitForFocus(field, SHOW_MS);
  await page.keyboard.type('room-2');
  const options = dialog.getByRole('option');
  // Names starting with the text, the one with the newest message first.
  await options.first().filter({ hasText: 'room-22' }).waitFor({ timeout: SHOW_MS });
  assert.equal(await options.count(), 6);
  await page.keyboard.press('ArrowDown');
  const second = await options.nth(1).textContent();
  assert.equal(await options.nth(1).getAttribute('aria-selected'), 'true');
  await page.keyboard.press('Enter');
  await title(page, second);
  assert.equal(await dialog.isVisible(), false);

  // A match inside the name; Escape closes and gives the keyboard back.
  await composer.focus();
  await page.keyboard.press('Control+k');
  await waitForFocus(field, SHOW_MS);
  await page.keyboard.type('m-07');
  await options.first().filter({ hasText: 'room-07' }).waitFor({ timeout: SHOW_MS });
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden', timeout: SHOW_MS });
  await waitForFocus(composer, SHOW_MS);
  await closePage(p);
});
