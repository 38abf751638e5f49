// Mentions and read state in the web client: "@" offers the room's people;
// a message that mentions me is highlighted and its room shows a mention
// badge apart from the unread count; a room opened with unread messages
// shows a "New messages" divider above the first of them and scrolls there;
// and a badge cleared on one device clears on the user's other devices.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  TEST_TIMEOUT_MS, api, createRoom, loginViaUI, messageRow, openRoomViaUI, registerUser, roomButton,
  serverAndBrowser, sleep, waitForMessage,
} from './helpers.js';

/** How soon a change made elsewhere must show. */
const LIVE_MS = 2000;

/** Alice, Bob, Carol and Cara; a public room and Bob's private room with Alice and Carol. */
const env = serverAndBrowser({
  async setup(e) {
    for (const name of ['alice', 'bob', 'carol', 'cara']) e[name] = await registerUser(e.server, name);
    e.lobby = await createRoom(e.server, e.alice.token, 'lobby');
    e.attic = await createRoom(e.server, e.bob.token, 'attic', { private: true });
    for (const username of ['alice', 'carol']) {
      await api(e.server, 'POST', `/api/rooms/${e.attic.id}/members`, { token: e.bob.token, body: { username } });
    }
  },
});

/** A logged-in page of `username` in a checked context. */
async function openPage(username) {
  const ctx = await env.newContext();
  const page = await ctx.newPage();
  await loginViaUI(page, env.server, username);
  return { ctx, page };
}

async function closePage({ ctx }) {
  assert.deepEqual(ctx.foreign, [], 'requests to other hosts');
  assert.deepEqual(ctx.errors, [], 'page errors or CSP violations');
  await ctx.close();
}

const unreadBadge = (page, room) => roomButton(page, room).locator('.badge');
const mentionBadge = (page, room) => roomButton(page, room).locator('.mention-badge');

/** Type `text` into the composer and check (bounded wait) that "@" offers `names`. */
async function expectOffered(page, text, names) {
  await page.getByRole('textbox', { name: 'Message', exact: true }).fill(text);
  const shown = () => page.evaluate(() => {
    const list = document.getElementById('mention-list');
    return list && !list.hidden ? [...list.querySelectorAll('[role=option] span:not(.avatar)')].map((o) => o.textContent) : [];
  });
  const deadline = Date.now() + LIVE_MS;
  let got = await shown();
  while (JSON.stringify(got) !== JSON.stringify(names) && Date.now() < deadline) {
    await sleep(50);
    got = await shown();
  }
  assert.deepEqual(got, names, `names offered for "${text}"`);
}

test('a mention is offered, highlighted and badged apart from the unread count', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await openPage('alice');
  const b = await openPage('bob');
  await openRoomViaUI(a.page, 'attic');
  await openRoomViaUI(b.page, 'lobby');

  // A public room offers the directory; a private room only its members.
  await expectOffered(b.page, 'hi @ca', ['cara', 'carol']);
  await openRoomViaUI(b.page, 'attic');
  await expectOffered(b.page, 'hi @ca', ['carol']);
  await expectOffered(b.page, '@', ['alice', 'carol']); // members, but not me
  await openRoomViaUI(b.page, 'lobby');

  // Bob picks Alice from the list with the keyboard, in the room Alice is not viewing.
  const box = b.page.getByRole('textbox', { name: 'Message', exact: true });
  await expectOffered(b.page, 'tea, @AL', ['alice']);
  await box.press('Enter');
  await b.page.getByRole('listbox', { name: 'People to mention' }).waitFor({ state: 'hidden' });
  assert.equal(await box.inputValue(), 'tea, @alice ');
  await box.pressSequentially('?');
  await box.press('Enter');
  await waitForMessage(b.page, 'tea, @alice ?');

  // Alice: the unread count and, apart from it, the mention badge.
  await unreadBadge(a.page, 'lobby').filter({ hasText: '1' }).waitFor({ timeout: LIVE_MS });
  await mentionBadge(a.page, 'lobby').filter({ hasText: '@1' }).waitFor({ timeout: LIVE_MS });
  // A message that does not mention her counts as unread only.
  const bot = await env.openBot();
  await bot.send(env.carol.token, env.lobby.id, ['just chatting']);
  await bot.close();
  await unreadBadge(a.page, 'lobby').filter({ hasText: '2' }).waitFor({ timeout: LIVE_MS });
  assert.equal(await mentionBadge(a.page, 'lobby').textContent(), '@1 mention');

  // Opening the room: the mention is highlighted, and both badges go.
  await openRoomViaUI(a.page, 'lobby');
  await waitForMessage(a.page, 'just chatting');
  assert.equal(await messageRow(a.page, 'tea, @alice ?').evaluate((n) => n.classList.contains('mentions-me')), true);
  assert.equal(await messageRow(a.page, 'just chatting').evaluate((n) => n.classList.contains('mentions-me')), false);
  await unreadBadge(a.page, 'lobby').waitFor({ state: 'detached', timeout: LIVE_MS });
  assert.equal(await mentionBadge(a.page, 'lobby').count(), 0);
  await closePage(a);
  await closePage(b);
});

test('a room opened with unread messages shows the divider above the first and scrolls to it', { timeout: TEST_TIMEOUT_MS }, async () => {
  const room = await createRoom(env.server, env.bob.token, 'porch');
  const bot = await env.openBot();
  await bot.send(env.bob.token, room.id, ['read before 1', 'read before 2']);
  const a = await openPage('alice');
  await openRoomViaUI(a.page, 'porch');
  await waitForMessage(a.page, 'read before 2');

  // Alice goes elsewhere; many messages arrive meanwhile.
  await openRoomViaUI(a.page, 'lobby');
  const away = Array.from({ length: 40 }, (_, i) => `while away ${i + 1}`);
  await bot.send(env.bob.token, room.id, away);
  await bot.close();
  await unreadBadge(a.page, 'porch').filter({ hasText: '40' }).waitFor({ timeout: LIVE_MS });

  await openRoomViaUI(a.page, 'porch');
  await waitForMessage(a.page, 'while away 40');
  const dividers = a.page.locator('#message-log .unread-divider');
  assert.equal(await dividers.count(), 1);
  assert.equal(await messageRow(a.page, 'while away 1').locator('.unread-divider').count(), 1, 'above the first unread');
  assert.equal(await dividers.getAttribute('aria-label'), 'New messages');
  const where = await a.page.evaluate(() => {
    const log = document.getElementById('log-scroll');
    const divider = log.querySelector('.unread-divider');
    return {
      dividerTop: divider.getBoundingClientRect().top - log.getBoundingClientRect().top,
      fromBottom: log.scrollHeight - log.scrollTop - log.clientHeight,
    };
  });
  assert.ok(where.dividerTop >= 0 && where.dividerTop < 80, `divider near the top (${where.dividerTop}px)`);
  assert.ok(where.fromBottom > 200, `not scrolled to the bottom (${where.fromBottom}px left)`);

  // Only what is on screen counts as read: some remain, until the reader scrolls down.
  const left = Number.parseInt(await unreadBadge(a.page, 'porch').textContent({ timeout: LIVE_MS }), 10);
  assert.ok(left > 0 && left < 40, `some messages still unread (${left})`);
  await a.page.locator('#log-scroll').evaluate((n) => { n.scrollTop = n.scrollHeight; });
  await unreadBadge(a.page, 'porch').waitFor({ state: 'detached', timeout: LIVE_MS });
  // The divider stays while the room is open.
  assert.equal(await dividers.count(), 1);
  await closePage(a);
});

test('a badge cleared on one device clears on the other at once', { timeout: TEST_TIMEOUT_MS }, async () => {
  const room = await createRoom(env.server, env.bob.token, 'garden');
  const bot = await env.openBot();
  await bot.send(env.bob.token, room.id, ['first']);
  const laptop = await openPage('alice');
  const phone = await openPage('alice');
  for (const { page } of [laptop, phone]) await openRoomViaUI(page, 'garden');
  for (const { page } of [laptop, phone]) await openRoomViaUI(page, 'lobby');

  await bot.send(env.bob.token, room.id, ['@alice are you coming?', 'bring a hat']);
  await bot.close();
  for (const { page } of [laptop, phone]) {
    await unreadBadge(page, 'garden').filter({ hasText: '2' }).waitFor({ timeout: LIVE_MS });
    await mentionBadge(page, 'garden').filter({ hasText: '@1' }).waitFor({ timeout: LIVE_MS });
  }

  await openRoomViaUI(laptop.page, 'garden');
  await waitForMessage(laptop.page, 'bring a hat');
  await unreadBadge(laptop.page, 'garden').waitFor({ state: 'detached', timeout: LIVE_MS });
  // The phone, still in another room, follows without a reload.
  await unreadBadge(phone.page, 'garden').waitFor({ state: 'detached', timeout: LIVE_MS });
  await mentionBadge(phone.page, 'garden').waitFor({ state: 'detached', timeout: LIVE_MS });
  assert.equal(await phone.page.title(), 'Chatroom');
  await closePage(laptop);
  await closePage(phone);
});
