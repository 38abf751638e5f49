// Keyboard and accessibility of the web client, in a lived-in chat (50
// rooms, a direct conversation, a page of messages with links, mentions,
// reactions and own messages). The keyboard: the room list and the message
// log are one Tab stop each, with the arrow keys inside; a focused message
// reaches its actions; Up in an empty composer edits my last message; the
// skip link goes to the composer, which is a few Tab presses from the top.
// axe-core checks the log-in page, the busy room (also while reconnecting),
// the admin's Users dialog and the phone layout, in light and dark: no
// violation of impact "serious" or "critical".

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PASSWORD, api, axe, createAdmin, createRoom, openWithToken, registerUser, serverAndBrowser, sleep, waitForFocus,
  waitForMessage, UI_TIMEOUT_MS,
} from './helpers.js';

/** Each test is bounded well below the suite's per-test bound. */
const A11Y_TEST_MS = 20000;
/** The composer is at most this many Tab presses from the top of the page (it was 135). */
const MAX_TABS_TO_COMPOSER = 12;
/** Rooms in the sidebar, as in the issue's measurement. */
const ROOMS = 50;
const SCHEMES = ['light', 'dark'];
const PHONE = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true };

let world;
const env = serverAndBrowser({ setup: async () => { world = await seedWorld(); } });

async function seedWorld() {
  await createAdmin(env.server, 'alice');
  const me = await api(env.server, 'POST', '/api/users/login', { body: { username: 'alice', password: PASSWORD } });
  const bob = await registerUser(env.server, 'bob');
  const general = await createRoom(env.server, me.token, 'general', { description: 'Team chat: anything goes' });
  for (let i = 1; i < ROOMS; i++) await createRoom(env.server, me.token, `room-${String(i).padStart(2, '0')}`);
  await api(env.server, 'POST', '/api/dms', { token: bob.token, body: { usernames: ['alice'] } });

  const bot = await env.openBot();
  const texts = [];
  for (let i = 1; i <= 30; i++) texts.push(`message ${i} from bob`);
  await bot.send(bob.token, general.id, texts, { inFlight: 10 });
  await bot.send(bob.token, general.id, ['The checklist: https://example.com/release-checklist', '@alice can you look at it?']);
  await bot.send(me.token, general.id, ['Sure, here it is: https://example.com/notes', 'my last message']);
  const [reacted] = await bot.send(bob.token, general.id, ['react to me']);
  await bot.close();
  for (const [who, emoji] of [[bob, '👍'], [me, '👍'], [me, '🎉']]) {
    await api(env.server, 'PUT', `/api/rooms/${general.id}/messages/${reacted}/reactions/${encodeURIComponent(emoji)}`, { token: who.token });
  }
  return { alice: me, bob, general };
}

/** A page logged in as alice (a saved token, as after a previous visit), in the busy room. */
async function openChat(options = {}) {
  const { ctx, page } = await openWithToken(env, world.alice.token, world.general.id, options);
  await waitForMessage(page, 'react to me');
  await page.locator('#message-log .reaction').first().waitFor();
  return { ctx, page };
}

/**
 * Check the page and print what axe found (the figures of the note); the
 * serious and critical violations go into `found`, which the test asserts
 * empty once every theme was checked.
 */
async function check(page, label, found) {
  const { counts, bad, all } = await axe(page);
  console.log(`axe ${label}: ${JSON.stringify(counts)}${all.length ? ` (${all.map((v) => `${v.id}×${v.nodes}`).join(', ')})` : ''}`);
  for (const v of bad) found.push({ page: label, ...v });
}

const active = (page) => page.evaluate(() => {
  const a = document.activeElement;
  return a ? (a.id || a.dataset.roomId || a.dataset.id || a.getAttribute('aria-label') || a.textContent.trim().slice(0, 30)) : null;
});

// ---- the keyboard ---------------------------------------------------------------

test('the composer is a few Tab presses from the top, and the skip link goes to it', { timeout: A11Y_TEST_MS }, async () => {
  const { ctx, page } = await openChat();
  // From the top of the page, as after a load.
  await page.evaluate(() => {
    const top = document.createElement('span');
    top.tabIndex = -1;
    document.body.prepend(top);
    top.focus();
  });
  const stops = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    stops.push(await active(page));
    if (await page.evaluate(() => document.activeElement?.id === 'composer-input')) break;
  }
  console.log(`Tab presses from the top of the page to the composer: ${stops.length} (${stops.join(' → ')})`);
  assert.equal(stops.at(-1), 'composer-input');
  assert.equal(stops[0], 'Skip to message box');
  assert.ok(stops.length <= MAX_TABS_TO_COMPOSER, `${stops.length} Tab presses to the composer`);

  // The first stop is the skip link; it puts the keyboard in the composer.
  await page.evaluate(() => document.getElementById('composer-input').blur());
  await page.locator('.skip-link').focus();
  await page.keyboard.press('Enter');
  await waitForFocus(page.locator('#composer-input'));
  await ctx.close();
});

test('the room list is one Tab stop with the arrow keys inside', { timeout: A11Y_TEST_MS }, async () => {
  const { ctx, page } = await openChat();
  const stopsIn = () => page.locator('#sidebar .room-btn[tabindex="0"]').evaluateAll((bs) => bs.map((b) => b.dataset.roomId));
  assert.deepEqual(await stopsIn(), [world.general.id], 'the open room is the only stop');
  assert.equal(await page.locator('#sidebar .room-btn').count(), ROOMS + 1);

  // Tab from "New room" lands on the open room; the arrow keys move in the list's order.
  const order = await page.locator('#sidebar .room-btn').evaluateAll((bs) => bs.map((b) => b.dataset.roomId));
  const button = (id) => page.locator(`#sidebar .room-btn[data-room-id="${id}"]`);
  const k = order.indexOf(world.general.id);
  await page.locator('#new-room-btn').focus();
  await page.keyboard.press('Tab');
  await waitForFocus(button(order[k]));
  await page.keyboard.press('ArrowDown');
  await waitForFocus(button(order[k + 1]));
  assert.deepEqual(await stopsIn(), [order[k + 1]], 'the stop follows the focus');
  await page.keyboard.press('ArrowUp');
  await waitForFocus(button(order[k]));
  // Home and End: the first room and the last direct conversation (the end of the list).
  await page.keyboard.press('Home');
  await waitForFocus(button(order[0]));
  // Up from the first room reaches the room filter above the list; Down comes back.
  await page.keyboard.press('ArrowUp');
  await waitForFocus(page.locator('#room-filter'));
  await page.keyboard.press('ArrowDown');
  await waitForFocus(button(order[0]));
  await page.keyboard.press('End');
  await waitForFocus(page.locator('#dm-list .room-btn'));
  assert.equal(order.at(-1), await page.locator('#dm-list .room-btn').getAttribute('data-room-id'));
  // Tab leaves the list; coming back, the stop is the open room again.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.closest('#sidebar')), null, 'Tab leaves the sidebar');
  assert.deepEqual(await stopsIn(), [world.general.id]);

  // Enter opens the focused room, which becomes the stop.
  await page.locator('#new-room-btn').focus();
  await page.keyboard.press('Tab');
  await page.keyboard.press('End');
  await page.keyboard.press('Home');
  await page.keyboard.press('Enter');
  const first = await button(order[0]).locator('.room-name').textContent();
  await page.locator('#room-title', { hasText: first }).waitFor();
  await page.locator('#new-room-btn').focus();
  await page.keyboard.press('Tab');
  await waitForFocus(button(order[0]));
  assert.deepEqual(await stopsIn(), [order[0]]);
  // Space opens too.
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press(' ');
  const second = await button(order[1]).locator('.room-name').textContent();
  await page.locator('#room-title', { hasText: second }).waitFor();
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('messages are one Tab stop; a focused message reaches its actions', { timeout: A11Y_TEST_MS }, async () => {
  const { ctx, page } = await openChat();
  const row = (text) => page.locator('#message-log .msg', { has: page.locator('.msg-text', { hasText: text }) });
  // No action, link or reaction of a message is a Tab stop of its own.
  assert.equal(await page.locator('#message-log :is(button, a)[tabindex="0"], #message-log :is(button, a):not([tabindex])').count(), 0);
  assert.equal(await page.locator('#message-log .msg[tabindex="0"]').count(), 1);

  // Shift+Tab from the composer: the newest message.
  await page.locator('#composer-input').focus();
  await page.keyboard.press('Shift+Tab');
  await waitForFocus(row('react to me'));
  await page.keyboard.press('ArrowUp');
  await waitForFocus(row('my last message'));
  // Tab goes on to the composer; Enter goes into the message's actions, then Tab moves among them.
  await page.keyboard.press('Tab');
  await waitForFocus(page.locator('#composer-input'));
  await page.keyboard.press('Shift+Tab');
  await waitForFocus(row('my last message'));
  await page.keyboard.press('Enter');
  await waitForFocus(row('my last message').getByRole('button', { name: 'Add reaction' }));
  await page.keyboard.press('Tab');
  await waitForFocus(row('my last message').getByRole('button', { name: 'Edit message' }));
  await page.keyboard.press('ArrowRight');
  await waitForFocus(row('my last message').getByRole('button', { name: 'Delete message' }));
  // Escape goes back to the message, whose buttons leave the Tab order again.
  await page.keyboard.press('Escape');
  await waitForFocus(row('my last message'));
  assert.equal(await page.locator('#message-log :is(button, a)[tabindex="0"]').count(), 0);
  // E edits the focused message (mine); Escape gives it back.
  await page.keyboard.press('e');
  await waitForFocus(row('my last message').locator('.msg-edit-input'));
  await page.keyboard.press('Escape');
  await page.locator('.msg-editor').waitFor({ state: 'detached' });
  // The other messages' actions are still no Tab stops.
  assert.equal(await page.locator('#message-log .msg:not(:focus-within) :is(button, a)[tabindex="0"]').count(), 0);
  // R: the reaction chooser, under the message.
  await row('my last message').focus();
  await page.keyboard.press('r');
  await waitForFocus(row('my last message').locator('.reaction-pick').first());
  await page.keyboard.press('Escape');
  await waitForFocus(row('my last message').getByRole('button', { name: 'Add reaction' }));
  // Home and End: the first and the last message on the page.
  await row('my last message').focus();
  await page.keyboard.press('End');
  await waitForFocus(row('react to me'));
  await page.keyboard.press('Home');
  await waitForFocus(page.locator('#message-log .msg').first());
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('Up in an empty composer edits my last message', { timeout: A11Y_TEST_MS }, async () => {
  const { ctx, page } = await openChat();
  const composer = page.locator('#composer-input');
  await composer.fill('not empty');
  await composer.press('ArrowUp');
  await sleep(200);
  assert.equal(await page.locator('.msg-editor').count(), 0, 'a draft is not left for an edit');
  await composer.fill('');
  await composer.press('ArrowUp');
  const editor = page.locator('.msg.editing .msg-edit-input');
  await waitForFocus(editor);
  assert.equal(await editor.inputValue(), 'my last message');
  await editor.press('Escape');
  await page.locator('.msg-editor').waitFor({ state: 'detached', timeout: UI_TIMEOUT_MS });
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

// ---- axe-core -------------------------------------------------------------------

test('axe: the log-in page, light and dark', { timeout: A11Y_TEST_MS }, async () => {
  const found = [];
  for (const colorScheme of SCHEMES) {
    const ctx = await env.newContext({ colorScheme });
    const page = await ctx.newPage();
    await page.goto(env.server.url + '/');
    await page.locator('#auth-form').waitFor();
    await check(page, `log-in page, ${colorScheme}`, found);
    await ctx.close();
  }
  assert.deepEqual(found, [], 'serious or critical axe violations');
});

test('axe: a busy room, connected and reconnecting, light and dark', { timeout: A11Y_TEST_MS }, async () => {
  const found = [];
  const pages = [];
  for (const colorScheme of SCHEMES) {
    const { ctx, page } = await openChat({ colorScheme });
    await page.locator('#message-log .msg.mentions-me').waitFor();
    await page.locator('#online-list .tag', { hasText: 'you' }).waitFor();
    await check(page, `busy room, ${colorScheme}`, found);
    pages.push({ ctx, page, colorScheme });
  }
  await env.server.stop();
  try {
    for (const { page, colorScheme } of pages) {
      await page.locator('#conn-status[data-state="reconnecting"]').waitFor();
      await check(page, `busy room reconnecting, ${colorScheme}`, found);
    }
  } finally {
    await env.restart();
  }
  for (const { ctx } of pages) await ctx.close();
  assert.deepEqual(found, [], 'serious or critical axe violations');
});

test('axe: the admin\'s Users dialog, light and dark', { timeout: A11Y_TEST_MS }, async () => {
  const found = [];
  for (const colorScheme of SCHEMES) {
    const { ctx, page } = await openChat({ colorScheme });
    await page.locator('#users-btn').click();
    const dialog = page.getByRole('dialog', { name: 'Users' });
    await dialog.locator('#users-body tr', { hasText: 'bob' }).waitFor();
    await check(page, `Users dialog, ${colorScheme}`, found);
    await ctx.close();
  }
  assert.deepEqual(found, [], 'serious or critical axe violations');
});

test('axe: the phone layout, light and dark', { timeout: A11Y_TEST_MS }, async () => {
  const found = [];
  for (const colorScheme of SCHEMES) {
    const { ctx, page } = await openChat({ ...PHONE, colorScheme });
    await check(page, `phone, ${colorScheme}`, found);
    await page.locator('#rooms-toggle').click();
    await page.locator('#sidebar.open').waitFor();
    await sleep(300); // the drawer slides in
    await check(page, `phone with the room drawer, ${colorScheme}`, found);
    await ctx.close();
  }
  assert.deepEqual(found, [], 'serious or critical axe violations');
});
