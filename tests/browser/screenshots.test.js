// Screenshots of a lived-in chat at phone and desktop sizes, written to
// target/screenshots/ on every run so a person can look at the client:
// also a sidebar of 50 rooms, and messages queued while offline.
// Also checks the security headers the page is served with.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import {
  SCREENSHOT_DIR, TEST_TIMEOUT_MS, createRoom, registerUser, openRoomViaUI, roomButton, sendViaUI, serverAndBrowser, sleep,
  waitConnected, waitForMessage, api,
} from './helpers.js';

let world;

const env = serverAndBrowser({ setup: async () => { world = await seedWorld(); } });

/** A few users, rooms and messages so the screenshots show a real chat. */
async function seedWorld() {
  const alice = await registerUser(env.server, 'alice');
  const bob = await registerUser(env.server, 'bob');
  const carol = await registerUser(env.server, 'carol');
  const general = await createRoom(env.server, alice.token, 'general', { description: 'Team chat: anything goes' });
  const random = await createRoom(env.server, bob.token, 'random', { description: 'Off-topic' });
  await createRoom(env.server, carol.token, 'announcements', { description: 'Release notes and news' });
  const design = await createRoom(env.server, alice.token, 'design-team', { private: true, description: 'Mock-ups and reviews' });
  await api(env.server, 'POST', `/api/rooms/${design.id}/members`, { token: alice.token, body: { username: 'bob' } });

  const bot = await env.openBot();
  await bot.send(bob.token, general.id, ['Morning all! Coffee is on in the kitchen.']);
  await bot.send(carol.token, general.id, [
    'Did anyone look at the release checklist?',
    'It is here: https://example.com/release-checklist',
  ]);
  await bot.send(alice.token, general.id, ['Yes, I went through it yesterday.\nTwo items left: the changelog and the screenshots.']);
  await bot.send(bob.token, general.id, ['Great, I can take the changelog.']);
  await bot.send(alice.token, general.id, ['Thanks Bob!']);
  await bot.close();
  return { alice, bob, carol, general, random };
}

/** A context logged in with a token, as after a previous visit. */
async function loggedIn(token, options = {}) {
  const ctx = await env.newContext(options);
  await ctx.addInitScript((t) => {
    if (location.protocol === 'http:') localStorage.setItem('chatroom.token', t);
  }, token);
  return ctx;
}

/** Alice's page logged in with `options`, on the room `general`. */
async function onGeneral(options) {
  const ctx = await loggedIn(world.alice.token, options);
  const page = await ctx.newPage();
  await page.goto(env.server.url + '/');
  await waitConnected(page);
  await page.evaluate(() => document.fonts.ready);
  if (!(await page.locator('#room-title', { hasText: /^general$/ }).isVisible())) {
    if (await page.locator('#rooms-toggle').isVisible()) await page.locator('#rooms-toggle').click();
    await roomButton(page, 'general').click();
  }
  await waitForMessage(page, 'Thanks Bob!');
  return { ctx, page };
}

test('security headers are set on /', { timeout: TEST_TIMEOUT_MS }, async () => {
  const res = await fetch(env.server.url + '/', { signal: AbortSignal.timeout(10000) });
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy');
  assert.ok(csp, 'Content-Security-Policy is set');
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  assert.match(res.headers.get('content-type') || '', /text\/html/);
});

test('phone and desktop screenshots', { timeout: TEST_TIMEOUT_MS }, async () => {
  await fs.mkdir(SCREENSHOT_DIR, { recursive: true });

  // Bob and Carol are online in their own browsers.
  const others = [];
  for (const who of [world.bob, world.carol]) {
    const ctx = await loggedIn(who.token);
    const page = await ctx.newPage();
    await page.goto(env.server.url + '/');
    await waitConnected(page);
    await openRoomViaUI(page, 'general');
    others.push({ ctx, page });
  }
  const bot = await env.openBot();

  async function shoot(name, options) {
    const { ctx, page } = await onGeneral(options);
    await page.locator('#online-list .person-name', { hasText: 'carol' }).waitFor({ state: 'attached' });
    // Something unread elsewhere, and someone typing here.
    await bot.send(world.bob.token, world.random.id, [`Lunch at noon? (${name})`]);
    await roomButton(page, 'random').locator('.badge').waitFor({ state: 'attached' });
    await sleep(1100); // typing is relayed at most once a second
    await others[1].page.getByRole('textbox', { name: 'Message', exact: true }).pressSequentially('Sounds', { delay: 20 });
    await page.locator('#typing', { hasText: 'carol is typing' }).waitFor();
    await others[1].page.getByRole('textbox', { name: 'Message', exact: true }).fill('');
    const file = path.join(SCREENSHOT_DIR, `${name}.png`);
    await page.screenshot({ path: file });
    if (await page.locator('#rooms-toggle').isVisible()) {
      // The phone's room drawer, opened.
      await page.locator('#rooms-toggle').click();
      await page.locator('#sidebar.open').waitFor();
      await sleep(300); // let the slide-in finish
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}-rooms.png`) });
    }
    assert.deepEqual(ctx.foreign, []);
    assert.deepEqual(ctx.errors, []);
    await ctx.close();
    const stat = await fs.stat(file);
    assert.ok(stat.size > 10000, `${file} looks empty`);
  }

  await shoot('desktop', { viewport: { width: 1280, height: 800 } });
  await shoot('phone', { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await shoot('desktop-dark', { viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });

  await bot.close();
  for (const o of others) await o.ctx.close();
});

/** Names of the rooms of a busy workspace, for the 50-room sidebar. */
const MORE_ROOMS = [
  'backend', 'frontend', 'mobile', 'infra', 'ops-alerts', 'on-call', 'security', 'releases', 'qa', 'support',
  'sales', 'marketing', 'product', 'research', 'data', 'analytics', 'billing', 'docs', 'hiring', 'onboarding',
  'office-berlin', 'office-lyon', 'office-austin', 'book-club', 'running', 'music', 'games', 'pets', 'food', 'travel',
  'standup', 'retro', 'planning', 'incidents', 'customer-feedback', 'partners', 'legal', 'finance', 'events', 'kudos',
  'help-desk', 'it', 'accessibility', 'performance', 'design-system', 'a-room-with-a-rather-long-name-that-gets-cut',
];

// Last in the file: it stops the server.
test('a 50-room sidebar, and messages queued offline, in both themes and on the phone', { timeout: TEST_TIMEOUT_MS }, async () => {
  const rooms = await Promise.all(MORE_ROOMS.map((name) => createRoom(env.server, world.bob.token, name)));
  const bot = await env.openBot();
  await Promise.all(rooms.filter((_, i) => i % 7 === 2).map((room) => bot.send(world.bob.token, room.id, [`News in #${room.name}`])));
  await bot.close();

  const light = await onGeneral({ viewport: { width: 1280, height: 800 } });
  await roomButton(light.page, 'standup').waitFor();
  await light.page.screenshot({ path: path.join(SCREENSHOT_DIR, 'sidebar-50-rooms.png') });
  await light.ctx.close();
  const dark = await onGeneral({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
  await roomButton(dark.page, 'standup').waitFor();
  await dark.page.screenshot({ path: path.join(SCREENSHOT_DIR, 'sidebar-50-rooms-dark.png') });
  assert.equal(await dark.page.locator('#room-list .room-btn').count(), 4 + MORE_ROOMS.length);

  // The server goes away: what is sent meanwhile waits, shown as pending.
  const phone = await onGeneral({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await env.server.stop();
  for (const { page } of [dark, phone]) {
    await page.locator('#conn-status[data-state="reconnecting"]').waitFor();
    for (const text of ['On the train, the connection keeps dropping', 'This one waits too']) await sendViaUI(page, text);
    await page.locator('#outbox-log .msg').nth(1).waitFor();
  }
  await dark.page.screenshot({ path: path.join(SCREENSHOT_DIR, 'offline-queue-dark.png') });
  await phone.page.screenshot({ path: path.join(SCREENSHOT_DIR, 'offline-queue-phone.png') });
  for (const { ctx } of [dark, phone]) {
    assert.deepEqual(ctx.errors, []);
    await ctx.close();
  }
});
