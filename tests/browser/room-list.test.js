// The room list follows the server's room-list events: a room created,
// shared, renamed or taken away elsewhere shows on an open page within a
// second, with no reload and no polling of GET /api/rooms. The owner renames
// a room and changes its description in the room settings dialog, which
// shows the server's refusal of a name another room holds.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  TEST_TIMEOUT_MS, api, createRoom, createRoomViaUI, loginViaUI, openRoomViaUI, registerUser, roomButton,
  serverAndBrowser, waitForFocus,
} from './helpers.js';

/** "Within a second" of the change, as the issue asks. */
const LIVE_MS = 1000;

const env = serverAndBrowser({
  async setup(e) {
    e.alice = await registerUser(e.server, 'alice');
    e.bob = await registerUser(e.server, 'bob');
    e.carol = await registerUser(e.server, 'carol');
  },
});

/** Count the context's reads of the room list in `ctx.roomListReads`. */
function countRoomListReads(ctx) {
  ctx.roomListReads = 0;
  ctx.on('request', (req) => {
    if (req.method() === 'GET' && new URL(req.url()).pathname === '/api/rooms') ctx.roomListReads += 1;
  });
}

/** A logged-in page of `username`, counting its reads of the room list. */
async function openPage(username) {
  const ctx = await env.newContext();
  countRoomListReads(ctx);
  const page = await ctx.newPage();
  await loginViaUI(page, env.server, username);
  return { ctx, page };
}

async function closePage({ ctx }) {
  assert.deepEqual(ctx.foreign, []);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
}

test('rooms created, shared and taken away elsewhere appear and go live', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await openPage('alice');
  const b = await openPage('bob');

  // Created in the other browser context, through the UI.
  await createRoomViaUI(a.page, 'garden', { description: 'what grows' });
  await roomButton(b.page, 'garden').waitFor({ timeout: LIVE_MS });

  // Created by someone without a page open.
  await createRoom(env.server, env.carol.token, 'workshop');
  await roomButton(a.page, 'workshop').waitFor({ timeout: LIVE_MS });
  await roomButton(b.page, 'workshop').waitFor({ timeout: LIVE_MS });

  // A private room appears to a member once added, and goes when removed.
  const secret = await createRoom(env.server, env.alice.token, 'secret', { private: true });
  await roomButton(a.page, 'secret').waitFor({ timeout: LIVE_MS });
  await api(env.server, 'POST', `/api/rooms/${secret.id}/members`, { token: env.alice.token, body: { username: 'bob' } });
  await roomButton(b.page, 'secret').waitFor({ timeout: LIVE_MS });
  await openRoomViaUI(b.page, 'secret');
  await api(env.server, 'DELETE', `/api/rooms/${secret.id}/members/bob`, { token: env.alice.token });
  await roomButton(b.page, 'secret').waitFor({ state: 'detached', timeout: LIVE_MS });
  await b.page.locator('.toast', { hasText: 'no longer have access' }).waitFor();
  await b.page.locator('#room-title', { hasText: 'garden' }).waitFor();

  // Deleted by its owner elsewhere.
  await api(env.server, 'DELETE', `/api/rooms/${secret.id}`, { token: env.alice.token });
  await roomButton(a.page, 'secret').waitFor({ state: 'detached', timeout: LIVE_MS });
  assert.equal(await roomButton(a.page, 'secret').count(), 0);

  // All of it came by events: each page read the list once, at start.
  assert.equal(a.ctx.roomListReads, 1, 'alice read GET /api/rooms once');
  assert.equal(b.ctx.roomListReads, 1, 'bob read GET /api/rooms once');
  await closePage(a);
  await closePage(b);
});

test('a rename in the settings dialog updates the other page, list and open room', { timeout: TEST_TIMEOUT_MS }, async () => {
  await createRoom(env.server, env.alice.token, 'kitchen', { description: 'pots' });
  const a = await openPage('alice');
  const b = await openPage('bob');
  await openRoomViaUI(a.page, 'kitchen');
  await openRoomViaUI(b.page, 'kitchen');
  // Only the owner (or an admin) is offered the settings.
  assert.equal(await b.page.getByRole('button', { name: 'Room settings' }).isVisible(), false);

  await a.page.getByRole('button', { name: 'Room settings' }).click();
  const dialog = a.page.getByRole('dialog', { name: 'Room settings' });
  assert.equal(await dialog.getByLabel('Name').inputValue(), 'kitchen');
  assert.equal(await dialog.getByLabel(/Description/).inputValue(), 'pots');
  await dialog.getByLabel('Name').fill('Galley');
  await dialog.getByLabel(/Description/).fill('pots and pans');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await a.page.locator('#room-title', { hasText: 'Galley' }).waitFor();
  await waitForFocus(a.page.getByRole('button', { name: 'Room settings' }));

  // The other page: the list entry, the header of the open room, its composer.
  await roomButton(b.page, 'Galley').waitFor({ timeout: LIVE_MS });
  await b.page.locator('#room-title', { hasText: 'Galley' }).waitFor({ timeout: LIVE_MS });
  assert.equal(await b.page.locator('#room-desc').textContent(), 'pots and pans');
  assert.equal(await b.page.locator('#composer-input').getAttribute('placeholder'), 'Message #Galley');
  assert.equal(await roomButton(b.page, 'kitchen').count(), 0);

  // A change made elsewhere (by REST) reaches the owner's own page too.
  const id = await a.page.locator('#room-list .room-btn[aria-current="page"]').getAttribute('data-room-id');
  await api(env.server, 'PATCH', `/api/rooms/${id}`, { token: env.alice.token, body: { description: '' } });
  await a.page.locator('#room-desc').waitFor({ state: 'hidden', timeout: LIVE_MS });
  await b.page.locator('#room-desc').waitFor({ state: 'hidden', timeout: LIVE_MS });
  await closePage(a);
  await closePage(b);
});

test('the settings dialog shows a name taken by another room', { timeout: TEST_TIMEOUT_MS }, async () => {
  await createRoom(env.server, env.carol.token, 'porch');
  const a = await openPage('alice');
  await createRoomViaUI(a.page, 'shed');

  await a.page.getByRole('button', { name: 'Room settings' }).click();
  const dialog = a.page.getByRole('dialog', { name: 'Room settings' });
  const name = dialog.getByLabel('Name');
  await name.fill('PORCH');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.getByRole('alert').filter({ hasText: 'A room with that name already exists' }).waitFor();
  // The dialog stays open on the field to fix.
  assert.equal(await dialog.isVisible(), true);
  assert.equal(await name.getAttribute('aria-invalid'), 'true');
  await waitForFocus(name);

  // An empty name is refused before asking the server.
  await name.fill('  ');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.getByRole('alert').filter({ hasText: 'Give the room a name' }).waitFor();

  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await a.page.locator('#room-title').textContent(), 'shed');
  await roomButton(a.page, 'shed').waitFor();
  await closePage(a);
});

test('after a reconnect the list is read again once: changes made while away show', { timeout: TEST_TIMEOUT_MS }, async () => {
  const renamed = await createRoom(env.server, env.carol.token, 'attic');
  const doomed = await createRoom(env.server, env.carol.token, 'cellar');
  const ctx = await env.newContext();
  countRoomListReads(ctx);
  // Relay the page's WebSocket, so the test can make it miss events and drop it.
  let deaf = false;
  let current = null;
  await ctx.routeWebSocket(/\/ws\?/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => server.send(m));
    server.onMessage((m) => { if (!deaf) ws.send(m); });
    current = ws;
  });
  const page = await ctx.newPage();
  await loginViaUI(page, env.server, 'bob');
  await roomButton(page, 'attic').waitFor();
  assert.equal(ctx.roomListReads, 1);

  // Changes the page does not hear about.
  deaf = true;
  await createRoom(env.server, env.carol.token, 'loft');
  await api(env.server, 'PATCH', `/api/rooms/${renamed.id}`, { token: env.carol.token, body: { name: 'garret' } });
  await api(env.server, 'DELETE', `/api/rooms/${doomed.id}`, { token: env.carol.token });
  await page.waitForTimeout(300);
  assert.equal(await roomButton(page, 'loft').count(), 0, 'the missed event changed nothing');

  // The connection drops; the page reconnects and reads the list again.
  deaf = false;
  await current.close({ code: 1001, reason: 'going away' });
  await roomButton(page, 'loft').waitFor();
  await roomButton(page, 'garret').waitFor();
  await roomButton(page, 'cellar').waitFor({ state: 'detached' });
  assert.equal(await roomButton(page, 'attic').count(), 0);
  assert.equal(ctx.roomListReads, 2, 'read once more, after the reconnect');
  await closePage({ ctx });
});
