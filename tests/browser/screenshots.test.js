// Screenshots of a lived-in chat at phone and desktop sizes, written to
// target/screenshots/ on every run so a person can look at the client.
// Also checks the security headers the page is served with.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import {
  SCREENSHOT_DIR, TEST_TIMEOUT_MS, createRoom, registerUser, openRoomViaUI, roomButton, serverAndBrowser, sleep,
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
