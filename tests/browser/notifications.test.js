// Notifications in the web client: the service worker and the manifest that
// make the page an installable app, the "Notifications" switch (permission
// asked only when turned on; blocked and unreachable explained; a
// subscription handed to the server and taken back), the bell's three
// levels per room, a notification's click opening its room (in an open tab
// or through `/?room=ID`), the hidden page's own desktop notifications, and
// the `presence {visible}` frames the page sends. Headless Chromium reaches
// no push service, so the tests that need a subscription give the page one.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import {
  api, axe, createRoom, registerUser, serverAndBrowser, waitConnected, waitForFocus, UI_TIMEOUT_MS,
} from './helpers.js';

let world;
const env = serverAndBrowser({ setup: async () => { world = await seed(); } });

async function seed() {
  const alice = await registerUser(env.server, 'alice');
  const bob = await registerUser(env.server, 'bob');
  const general = await createRoom(env.server, alice.token, 'general');
  const dm = await api(env.server, 'POST', '/api/dms', { token: bob.token, body: { usernames: ['alice'] } });
  return { alice, bob, general, dm };
}

/** A page logged in as `user` (a saved token), landing in `roomId` unless the address says otherwise. */
async function openChat({ user = world.alice, roomId = world.general.id, path = '/', permissions, initScript, initArg } = {}) {
  const ctx = await env.newContext(permissions ? { permissions } : {});
  await ctx.addInitScript(([t, room]) => {
    if (location.protocol !== 'http:') return;
    localStorage.setItem('chatroom.token', t);
    localStorage.setItem('chatroom.lastRoom', room);
  }, [user.token, roomId]);
  if (initScript) await ctx.addInitScript(initScript, initArg);
  const page = await ctx.newPage();
  await page.goto(env.server.url + path);
  await waitConnected(page);
  return { ctx, page };
}

const title = (page) => page.locator('#room-title');

/** The page's service worker, once it runs (bounded). */
async function serviceWorker(ctx, page) {
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  return ctx.serviceWorkers()[0] || ctx.waitForEvent('serviceworker', { timeout: UI_TIMEOUT_MS });
}

// ---- the installable app ----------------------------------------------------------

test('the service worker registers with scope / and controls the page', async () => {
  const { ctx, page } = await openChat();
  const scope = await page.evaluate(() => navigator.serviceWorker.ready.then((r) => r.scope));
  assert.equal(scope, env.server.url + '/');
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: UI_TIMEOUT_MS });
  await page.reload();
  await waitConnected(page);
  assert.ok(await page.evaluate(() => navigator.serviceWorker.controller !== null), 'controlled after a reload');
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('the manifest is linked and valid, and each icon answers with an image', async () => {
  const { ctx, page } = await openChat();
  const href = await page.evaluate(() => document.querySelector('link[rel="manifest"]').href);
  const res = await ctx.request.get(href);
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-type'], /^application\/manifest\+json/);
  const manifest = JSON.parse(await res.text());
  for (const field of ['name', 'short_name', 'theme_color', 'background_color']) assert.ok(manifest[field], field);
  assert.equal(manifest.start_url, '/');
  assert.equal(manifest.scope, '/');
  assert.equal(manifest.display, 'standalone');
  const sizes = manifest.icons.map((i) => i.sizes);
  for (const size of ['192x192', '512x512']) assert.ok(sizes.includes(size), size);
  assert.ok(manifest.icons.some((i) => i.purpose.split(' ').includes('maskable')), 'a maskable icon');
  for (const icon of manifest.icons) {
    const got = await ctx.request.get(new URL(icon.src, href).href);
    assert.equal(got.status(), 200, icon.src);
    assert.equal(got.headers()['content-type'], icon.type, icon.src);
    assert.match(icon.type, /^image\//);
  }
  assert.deepEqual(ctx.errors, [], 'no CSP violation');
  await ctx.close();
});

// ---- the switch -------------------------------------------------------------------

const notifySwitch = (page) => page.getByRole('switch', { name: 'Notifications' });

test('turning notifications on where the browser blocks them keeps the switch off and says how to allow them', async () => {
  const { ctx, page } = await openChat();
  assert.equal(await page.evaluate(() => Notification.permission), 'default', 'not asked at load');
  await notifySwitch(page).click();
  await page.locator('#notify-status-text', { hasText: 'site settings' }).waitFor();
  assert.equal(await notifySwitch(page).getAttribute('aria-checked'), 'false');
  await ctx.close();
});

test('with permission but no reachable push service, the switch says so and stays off', async () => {
  const { ctx, page } = await openChat({ permissions: ['notifications'] });
  await notifySwitch(page).click();
  await page.locator('#notify-status-text', { hasText: /could not be turned on/ }).waitFor({ timeout: 30000 });
  assert.equal(await notifySwitch(page).getAttribute('aria-checked'), 'false');
  await ctx.close();
});

/** A subscription as a browser would give it (real P-256 keys, https endpoint), for a page without a push service. */
function fakeSubscription() {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    endpoint: `https://push.invalid/send/${crypto.randomUUID()}`,
    keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: crypto.randomBytes(16).toString('base64url') },
  };
}

/** Make the page's PushManager hand out `sub` (kept in localStorage, as the browser keeps it across loads). */
function stubPushManager(sub) {
  const key = 'test.subscription';
  const make = (json) => ({
    endpoint: json.endpoint,
    options: { applicationServerKey: Uint8Array.from(JSON.parse(localStorage.getItem(`${key}.server`) || '[]')).buffer },
    toJSON: () => json,
    unsubscribe: async () => { localStorage.removeItem(key); return true; },
  });
  PushManager.prototype.getSubscription = async () => {
    const saved = localStorage.getItem(key);
    return saved ? make(JSON.parse(saved)) : null;
  };
  PushManager.prototype.subscribe = async (options) => {
    window.testSubscribeOptions = { userVisibleOnly: options.userVisibleOnly, keyBytes: options.applicationServerKey.byteLength };
    localStorage.setItem(key, JSON.stringify(sub));
    localStorage.setItem(`${key}.server`, JSON.stringify([...new Uint8Array(options.applicationServerKey)]));
    return make(sub);
  };
}

test('turned on, the subscription goes to the server, is posted again at load, and is taken back when turned off', async () => {
  const sub = fakeSubscription();
  const { ctx, page } = await openChat({ permissions: ['notifications'], initScript: stubPushManager, initArg: sub });
  const posted = page.waitForRequest((r) => r.url().endsWith('/api/push/subscriptions') && r.method() === 'POST');
  await notifySwitch(page).click();
  assert.deepEqual((await posted).postDataJSON(), sub);
  await page.locator('#notify-switch[aria-checked="true"]').waitFor();
  assert.deepEqual(await page.evaluate(() => window.testSubscribeOptions), { userVisibleOnly: true, keyBytes: 65 });

  const again = page.waitForRequest((r) => r.url().endsWith('/api/push/subscriptions') && r.method() === 'POST');
  await page.reload();
  await waitConnected(page);
  assert.equal((await again).postDataJSON().endpoint, sub.endpoint, 'posted again at load');
  await page.locator('#notify-switch[aria-checked="true"]').waitFor();
  assert.equal(await page.evaluate(() => window.testSubscribeOptions), undefined, 'the same key: no new subscription');

  // Bound to another key than the server's (e.g. a restored data directory): subscribed again at load.
  await page.evaluate(() => localStorage.setItem('test.subscription.server', JSON.stringify(new Array(65).fill(4))));
  const renewed = page.waitForRequest((r) => r.url().endsWith('/api/push/subscriptions') && r.method() === 'POST');
  await page.reload();
  await waitConnected(page);
  await renewed;
  assert.deepEqual(await page.evaluate(() => window.testSubscribeOptions), { userVisibleOnly: true, keyBytes: 65 });
  await page.locator('#notify-switch[aria-checked="true"]').waitFor();

  const removed = page.waitForRequest((r) => r.url().endsWith('/api/push/subscriptions') && r.method() === 'DELETE');
  await notifySwitch(page).click();
  assert.deepEqual((await removed).postDataJSON(), { endpoint: sub.endpoint });
  await page.locator('#notify-switch[aria-checked="false"]').waitFor();

  // Logging out takes the subscription back too: the next user of this browser gets none of these.
  await notifySwitch(page).click();
  await page.locator('#notify-switch[aria-checked="true"]').waitFor();
  const dropped = page.waitForRequest((r) => r.url().endsWith('/api/push/subscriptions') && r.method() === 'DELETE');
  await page.getByRole('button', { name: 'Log out' }).click();
  assert.deepEqual((await dropped).postDataJSON(), { endpoint: sub.endpoint });
  // The test's saved token logs the reloaded page in again.
  await page.waitForEvent('load');
  await waitConnected(page);
  assert.equal(await page.evaluate(() => localStorage.getItem('test.subscription')), null, 'the browser let go of it');
  await ctx.close();
});

// ---- the bell ---------------------------------------------------------------------

test('the bell shows the room level, changes it, gives the focus back, and the level survives a reload', async () => {
  const { ctx, page } = await openChat({ user: world.bob });
  await title(page).filter({ hasText: 'general' }).waitFor();
  const bell = page.locator('#bell-btn');
  assert.equal(await bell.getAttribute('title'), 'Room notifications: mentions only', 'a named room defaults to mentions');

  await bell.click();
  const menu = page.getByRole('menu', { name: 'Notify me about' });
  assert.equal(await menu.getByRole('menuitemradio', { name: 'Mentions only' }).getAttribute('aria-checked'), 'true');
  const put = page.waitForResponse((r) => r.url().endsWith(`/api/rooms/${world.general.id}/notifications`));
  await page.keyboard.press('ArrowDown'); // Nothing
  await page.keyboard.press('Enter');
  const answer = await put;
  assert.equal(answer.request().method(), 'PUT');
  assert.deepEqual(answer.request().postDataJSON(), { level: 'none' });
  assert.equal((await answer.json()).notifications, 'none');
  await page.locator('#bell-btn[title="Room notifications: nothing"]').waitFor();
  await waitForFocus(bell);
  assert.ok(await menu.isHidden());
  // The sidebar says the room is muted.
  await page.locator(`#room-list button[data-room-id="${world.general.id}"] .room-muted`).waitFor();

  await page.reload();
  await waitConnected(page);
  await page.locator('#bell-btn[title="Room notifications: nothing"]').waitFor();
  // A direct room defaults to every message.
  await page.locator(`#dm-list button[data-room-id="${world.dm.id}"]`).click();
  await page.locator('#bell-btn[title="Room notifications: all messages"]').waitFor();
  await api(env.server, 'PUT', `/api/rooms/${world.general.id}/notifications`, { token: world.bob.token, body: { level: 'mentions' } });
  await ctx.close();
});

test('the switch, its sentence and the open bell menu pass axe, and the account buttons are one Tab stop', async () => {
  const { ctx, page } = await openChat();
  await notifySwitch(page).click();
  await page.locator('#notify-status-text', { hasText: 'site settings' }).waitFor();
  assert.deepEqual((await axe(page)).bad, [], 'with the sentence');
  await page.keyboard.press('Escape');
  await page.locator('#notify-status-close').waitFor({ state: 'hidden' });
  assert.equal(await page.locator('#notify-status-text').textContent(), '', 'Escape puts the sentence away');
  await page.locator('#bell-btn').click();
  await page.getByRole('menu', { name: 'Notify me about' }).waitFor();
  assert.deepEqual((await axe(page)).bad, [], 'with the bell menu open');
  await page.keyboard.press('Escape');
  await waitForFocus(page.locator('#bell-btn'));

  // The toolbar: the arrow keys move between the account's buttons, Tab leaves it.
  await notifySwitch(page).focus();
  await page.keyboard.press('ArrowRight');
  await waitForFocus(page.getByRole('button', { name: 'Change password' }));
  await page.keyboard.press('ArrowLeft');
  await waitForFocus(notifySwitch(page));
  assert.equal(await page.locator('#password-btn').getAttribute('tabindex'), '-1');
  await ctx.close();
});

// ---- clicking a notification -----------------------------------------------------------

test('a push is shown by the service worker, and its click opens the room in the open tab', async () => {
  const { ctx, page } = await openChat({ permissions: ['notifications'] });
  await title(page).filter({ hasText: 'general' }).waitFor();
  const sw = await serviceWorker(ctx, page);
  const shown = await sw.evaluate(async ({ general, dm }) => {
    await self.showPushNotification({ roomId: general, roomName: 'general', messageId: 'm1', user: 'bob', text: 'first' });
    await self.showPushNotification({ roomId: general, roomName: 'general', messageId: 'm2', user: 'bob', text: 'second' });
    await self.showPushNotification({ roomId: dm, roomName: '', messageId: 'm3', user: 'bob', text: '' });
    const all = await self.registration.getNotifications();
    return all.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
  }, { general: world.general.id, dm: world.dm.id });
  const byTag = Object.fromEntries(shown.map((n) => [n.tag, n]));
  assert.equal(shown.length, 2, 'one notification per room');
  assert.deepEqual(byTag[`room-${world.general.id}`],
    { title: '#general — bob', body: 'second', tag: `room-${world.general.id}`, data: { roomId: world.general.id, messageId: 'm2', count: 2 } });
  assert.equal(byTag[`room-${world.dm.id}`].title, 'bob', 'a direct message is titled by its sender');
  assert.equal(byTag[`room-${world.dm.id}`].body, 'sent a file');

  // What a click on the direct room's notification runs.
  await sw.evaluate(async (dm) => {
    const [n] = await self.registration.getNotifications({ tag: `room-${dm}` });
    n.close();
    await self.openRoomFromNotification(n.data);
  }, world.dm.id);
  await page.locator(`#dm-list button[data-room-id="${world.dm.id}"][aria-current="page"]`).waitFor();
  assert.equal(ctx.pages().length, 1, 'no second tab');
  // Opening a room on the visible page puts its notifications away, and the app's badge with them.
  await sw.evaluate(() => {
    self.testBadge = [];
    navigator.setAppBadge = async (n) => { self.testBadge.push(n); };
    navigator.clearAppBadge = async () => { self.testBadge.push(0); };
  });
  await page.locator(`#room-list button[data-room-id="${world.general.id}"]`).click();
  for (let i = 0; i < 50 && (await sw.evaluate(() => self.registration.getNotifications().then((n) => n.length))) > 0; i++) {
    await page.waitForTimeout(100);
  }
  assert.equal(await sw.evaluate(() => self.registration.getNotifications().then((n) => n.length)), 0);
  for (let i = 0; i < 50 && !(await sw.evaluate(() => self.testBadge.includes(0))); i++) await page.waitForTimeout(100);
  assert.equal(await sw.evaluate(() => self.testBadge.at(-1)), 0, 'the badge is cleared');
  await ctx.close();
});

test('with no tab open, a click opens /?room=ID, which opens that room and leaves a clean address', async () => {
  const { ctx, page } = await openChat();
  await title(page).filter({ hasText: 'general' }).waitFor();
  await page.goto(`${env.server.url}/?room=${encodeURIComponent(world.dm.id)}`);
  await waitConnected(page);
  await page.locator(`#dm-list button[data-room-id="${world.dm.id}"][aria-current="page"]`).waitFor();
  assert.equal(page.url(), env.server.url + '/');
  // An unknown room in the address falls back to the usual landing.
  await page.goto(`${env.server.url}/?room=nope`);
  await waitConnected(page);
  await page.locator('#room-list button[aria-current="page"]').waitFor();
  assert.equal(page.url(), env.server.url + '/');
  await ctx.close();
});

// ---- the hidden page -------------------------------------------------------------------

/** Record every `new Notification(...)`, and let the test hide and show the page. */
function stubNotificationsAndVisibility() {
  window.testNotes = [];
  class FakeNotification extends EventTarget {
    constructor(title, options = {}) {
      super();
      this.title = title;
      Object.assign(this, options);
      window.testNotes.push(this);
    }
    close() { this.closed = true; }
    static get permission() { return 'granted'; }
    static async requestPermission() { return 'granted'; }
  }
  window.Notification = FakeNotification;
  let state = 'visible';
  Object.defineProperty(document, 'visibilityState', { get: () => state, configurable: true });
  Object.defineProperty(document, 'hidden', { get: () => state === 'hidden', configurable: true });
  window.testSetVisible = (visible) => {
    state = visible ? 'visible' : 'hidden';
    document.dispatchEvent(new Event('visibilitychange'));
  };
}

test('a hidden page shows a mention or a direct message at once, tagged by room, and its click opens the room', async () => {
  const { ctx, page } = await openChat({ initScript: stubNotificationsAndVisibility });
  await title(page).filter({ hasText: 'general' }).waitFor();
  const bot = await env.openBot();
  const notes = () => page.evaluate(() => window.testNotes.map((n) => ({ title: n.title, body: n.body, tag: n.tag })));

  // Visible: nothing; the log shows it.
  await bot.send(world.bob.token, world.general.id, ['@alice while you look']);
  await page.locator('#message-log .msg-text', { hasText: 'while you look' }).waitFor();
  await page.evaluate(() => window.testSetVisible(false));
  await bot.send(world.bob.token, world.general.id, ['no mention here', '@alice are you there?']);
  await page.waitForFunction(() => window.testNotes.length >= 1, null, { timeout: UI_TIMEOUT_MS });
  await bot.send(world.bob.token, world.dm.id, ['psst']);
  await page.waitForFunction(() => window.testNotes.length >= 2, null, { timeout: UI_TIMEOUT_MS });
  assert.deepEqual(await notes(), [
    { title: '#general — bob', body: '@alice are you there?', tag: `room-${world.general.id}` },
    { title: 'bob', body: 'psst', tag: `room-${world.dm.id}` },
  ]);

  // My own message (from another device): no notification.
  await bot.send(world.alice.token, world.dm.id, ['from my phone']);
  await page.waitForTimeout(500);
  assert.equal(await page.evaluate(() => window.testNotes.length), 2, 'nothing for my own message');

  // A room set to "Nothing": no notification.
  await api(env.server, 'PUT', `/api/rooms/${world.dm.id}/notifications`, { token: world.alice.token, body: { level: 'none' } });
  await page.reload(); // the level is read with the room list
  await waitConnected(page);
  await page.evaluate(() => window.testSetVisible(false));
  await bot.send(world.bob.token, world.dm.id, ['muted room']);
  await page.waitForTimeout(500);
  assert.deepEqual(await page.evaluate(() => window.testNotes.length), 0, 'nothing for a muted room');
  await api(env.server, 'PUT', `/api/rooms/${world.dm.id}/notifications`, { token: world.alice.token, body: { level: 'all' } });

  // The click opens the room.
  await bot.send(world.bob.token, world.general.id, ['@alice over here']);
  await page.waitForFunction(() => window.testNotes.length === 1, null, { timeout: UI_TIMEOUT_MS });
  await page.locator(`#dm-list button[data-room-id="${world.dm.id}"]`).click();
  await page.locator(`#dm-list button[data-room-id="${world.dm.id}"][aria-current="page"]`).waitFor();
  await page.evaluate(() => window.testNotes[0].dispatchEvent(new Event('click')));
  await page.locator(`#room-list button[data-room-id="${world.general.id}"][aria-current="page"]`).waitFor();
  assert.ok(await page.evaluate(() => window.testNotes[0].closed));
  await bot.close();
  await ctx.close();
});

test('the page tells the server whether it is visible, after connecting and on every change', async () => {
  const frames = [];
  const ctx = await env.newContext();
  await ctx.addInitScript(([t, room]) => {
    localStorage.setItem('chatroom.token', t);
    localStorage.setItem('chatroom.lastRoom', room);
  }, [world.alice.token, world.general.id]);
  await ctx.addInitScript(stubNotificationsAndVisibility);
  const page = await ctx.newPage();
  page.on('websocket', (ws) => ws.on('framesent', (f) => {
    const frame = JSON.parse(f.payload);
    if (frame.event === 'presence') frames.push(frame.data);
  }));
  await page.goto(env.server.url + '/');
  await waitConnected(page);
  const seen = async (n) => {
    for (let i = 0; i < 50 && frames.length < n; i++) await page.waitForTimeout(100);
    return frames.slice(0, n);
  };
  assert.deepEqual(await seen(1), [{ visible: true }], 'sent once connected');
  await page.evaluate(() => window.testSetVisible(false));
  await page.evaluate(() => window.testSetVisible(true));
  assert.deepEqual(await seen(3), [{ visible: true }, { visible: false }, { visible: true }]);
  // A server that does not know the event answers with an error: nothing shows, the connection stays.
  await page.waitForTimeout(300);
  assert.equal(await page.locator('#toasts .toast.error').count(), 0);
  await waitConnected(page);
  await ctx.close();
});

