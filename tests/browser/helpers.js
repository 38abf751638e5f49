// Shared helpers of the browser tests: start the real `chatroom` binary on a
// free port with a fresh data directory, launch Debian's Chromium through
// playwright-core, and drive the web client the way a person would.
// Every wait here is bounded.

import { after, before } from 'node:test';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { PASSWORD, api, removeDir, sleep, startServer } from '../node-common/chatroom-server.mjs';

export {
  BIN, PASSWORD, api, cleanEnv, createAdmin, removeDir, sleep, startServer, stopProcess, tempDataDir,
} from '../node-common/chatroom-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '../..');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const SCREENSHOT_DIR = path.join(REPO_ROOT, 'target', 'screenshots');

/** Default bound of every Playwright action and wait. */
export const UI_TIMEOUT_MS = 15000;
/** Per-test bound for node:test. */
export const TEST_TIMEOUT_MS = 120000;
/** Bound of the before/after hooks (start server and browser; stop them). */
export const HOOK = { timeout: 60000 };

/**
 * Start again on the same port and data directory. The old socket may
 * linger for a moment, so a failed bind is retried a few times.
 */
export async function restartServer(server) {
  await server.stop();
  let lastErr;
  for (let i = 0; i < 10; i++) {
    try {
      return await startServer({ dataDir: server.dataDir, port: server.port, extraArgs: server.extraArgs });
    } catch (err) {
      lastErr = err;
      await sleep(300);
    }
  }
  throw lastErr;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
    timeout: 30000,
  });
}

/**
 * The server and the browser that every test of one file shares. Call it
 * once at the top of the file: it registers a `before` hook that starts a
 * fresh server (with a fresh data directory and `extraArgs`) and a browser,
 * then awaits `setup(env)` (what the file's tests share, e.g. seeded
 * users), and an `after` hook that closes the browser, stops the server and
 * removes its data directory. `setup` is a parameter rather than a second
 * `before` of the file because Node 20 starts top-level `before` hooks as
 * they are registered, without waiting for the previous one. The tests read
 * `server` and `browser` from the returned object once the hooks ran;
 * `restart()` replaces `server` with one on the same port and data
 * directory, so the `after` hook stops the one that runs at the end.
 */
export function serverAndBrowser({ extraArgs = [], setup } = {}) {
  const env = {
    server: undefined,
    browser: undefined,
    /** A checked browser context on the server (see `newContext`). */
    newContext: (options) => newContext(env.browser, env.server, options),
    /** A WebSocket sender on the server (see `openBot`). */
    openBot: () => openBot(env.browser, env.server),
    async restart() {
      env.server = await restartServer(env.server);
      return env.server;
    },
  };
  before(async () => {
    env.server = await startServer({ extraArgs });
    env.browser = await launchBrowser();
    if (setup) await setup(env);
  }, HOOK);
  after(async () => {
    if (env.browser) await env.browser.close();
    if (env.server) {
      await env.server.stop();
      await removeDir(env.server.dataDir);
    }
  }, HOOK);
  return env;
}

/**
 * A browser context whose every request is checked: anything that goes to
 * another host than the server is remembered in `foreign` (the page must
 * need nothing but the server).
 */
export async function newContext(browser, server, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  context.foreign = [];
  context.errors = [];
  context.requests = 0;
  const check = (url) => {
    context.requests += 1;
    const u = new URL(url);
    if (['data:', 'blob:', 'about:'].includes(u.protocol)) return;
    if (u.host !== server.host) context.foreign.push(url);
  };
  context.on('request', (req) => check(req.url()));
  context.on('page', (page) => {
    page.on('websocket', (ws) => check(ws.url()));
    page.on('pageerror', (err) => context.errors.push(String(err)));
    // The client must run under the server's CSP without violations.
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) context.errors.push(msg.text());
    });
  });
  return context;
}

export const registerUser = (server, username, password = PASSWORD) =>
  api(server, 'POST', '/api/users/register', { body: { username, password } });

export const createRoom = (server, token, name, extra = {}) =>
  api(server, 'POST', '/api/rooms', { token, body: { name, ...extra } });

// ---- a WebSocket client for seeding, run inside a browser page ---------------

/**
 * A page parked on the server's favicon (same origin, no app code) whose
 * WebSocket sends messages as another user. Node 20 has no WebSocket
 * client, and the browser's is the real thing anyway.
 */
export async function openBot(browser, server) {
  const context = await browser.newContext();
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  const page = await context.newPage();
  await page.goto(`${server.url}/favicon.svg`);
  return {
    /**
     * Join `roomId` and send each text in order, awaiting each ack. Returns the acked ids.
     * `inFlight` > 1 sends that many before awaiting their acks: quicker, but the
     * server may store each batch in another order than `texts`.
     */
    async send(token, roomId, texts, { inFlight = 1 } = {}) {
      return page.evaluate(async ({ token, roomId, texts, inFlight }) => {
        const ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(token)}`);
        const pending = new Map();
        let n = 0;
        ws.onmessage = (ev) => {
          const f = JSON.parse(ev.data);
          const p = f.ref && pending.get(f.ref);
          if (!p) return;
          pending.delete(f.ref);
          if (f.event === 'ack') p.resolve(f.data);
          else p.reject(new Error(`${f.data.code}: ${f.data.message}`));
        };
        const request = (event, data) => new Promise((resolve, reject) => {
          const ref = `bot-${++n}`;
          const t = setTimeout(() => reject(new Error(`${event} timed out`)), 10000);
          pending.set(ref, { resolve: (d) => { clearTimeout(t); resolve(d); }, reject: (e) => { clearTimeout(t); reject(e); } });
          ws.send(JSON.stringify({ event, data, ref }));
        });
        await new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('ws open timed out')), 10000);
          ws.onopen = () => { clearTimeout(t); resolve(); };
          ws.onerror = () => { clearTimeout(t); reject(new Error('ws failed')); };
        });
        try {
          await request('joinRoom', { roomId });
          const ids = [];
          for (let i = 0; i < texts.length; i += inFlight) {
            const acks = texts.slice(i, i + inFlight).map((message) => request('sendMessage', { roomId, message }));
            for (const ack of await Promise.all(acks)) ids.push(ack.id);
          }
          return ids;
        } finally {
          ws.close();
        }
      }, { token, roomId, texts, inFlight });
    },
    close: () => context.close(),
  };
}

// ---- driving the web client -------------------------------------------------

export const registerViaUI = (page, server, username, password = PASSWORD) =>
  submitAuthForm(page, server, 'Create account', username, password);

export const loginViaUI = (page, server, username, password = PASSWORD) =>
  submitAuthForm(page, server, 'Log in', username, password);

/** Open the start page, fill in the log-in form and press `button`; wait until connected. */
async function submitAuthForm(page, server, button, username, password) {
  await page.goto(server.url + '/');
  const form = page.locator('#auth-form');
  await form.getByLabel('Username').fill(username);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: button }).click();
  await waitConnected(page);
}

/**
 * A page of `env` logged in with `token`, saved as after a previous visit
 * (no log-in form), whose last room was `roomId`; loaded and connected.
 */
export async function openWithToken(env, token, roomId, options = {}) {
  const ctx = await env.newContext(options);
  await ctx.addInitScript(([t, room]) => {
    if (location.protocol !== 'http:') return;
    localStorage.setItem('chatroom.token', t);
    localStorage.setItem('chatroom.lastRoom', room);
  }, [token, roomId]);
  const page = await ctx.newPage();
  await page.goto(env.server.url + '/');
  await waitConnected(page);
  return { ctx, page };
}

export async function waitConnected(page, timeout = UI_TIMEOUT_MS) {
  await page.locator('#conn-status[data-state="connected"]').waitFor({ timeout });
}

export async function createRoomViaUI(page, name, { description = '', isPrivate = false } = {}) {
  await page.getByRole('button', { name: 'New room' }).click();
  const dialog = page.getByRole('dialog', { name: 'New room' });
  await dialog.getByLabel('Name').fill(name);
  if (description) await dialog.getByLabel(/Description/).fill(description);
  if (isPrivate) await dialog.getByLabel(/Private/).check();
  await dialog.getByRole('button', { name: 'Create room' }).click();
  await page.locator('#room-title', { hasText: name }).waitFor();
}

export function roomButton(page, name) {
  return page.locator('#room-list .room-btn', { has: page.locator('.room-name', { hasText: new RegExp(`^${escapeRe(name)}$`) }) });
}

export async function openRoomViaUI(page, name) {
  await roomButton(page, name).click();
  await page.locator('#room-title', { hasText: name }).waitFor();
}

/** Type into the composer, press Enter, and wait for the ack (the box clears). */
export async function sendViaUI(page, text) {
  const box = page.getByRole('textbox', { name: 'Message', exact: true });
  await box.fill(text);
  await box.press('Enter');
  await page.waitForFunction(() => document.getElementById('composer-input').value === '', null, { timeout: UI_TIMEOUT_MS });
}

/** The texts of the messages in the log, in order. */
export function logTexts(page) {
  return page.$$eval('#message-log .msg .msg-text', (nodes) => nodes.map((n) => n.textContent));
}

/** Wait until the log holds `text` (bounded). */
export async function waitForMessage(page, text, timeout = UI_TIMEOUT_MS) {
  await page.locator('#message-log .msg-text', { hasText: text }).first().waitFor({ timeout });
}

/** The row of the message whose text is exactly `text`. */
export function messageRow(page, text) {
  return page.locator('#message-log .msg', {
    has: page.locator('.msg-text', { hasText: new RegExp(`^${escapeRe(text)}$`) }),
  });
}

/** Reveal a message's actions the way a mouse user does (hover), then click one. */
export async function messageAction(page, text, name) {
  const row = messageRow(page, text);
  const button = row.getByRole('button', { name, exact: true });
  // Scroll first: scrolling after the hover could move the row from under the mouse.
  await row.scrollIntoViewIfNeeded();
  await row.hover();
  await button.click();
}

/** Waits (bounded) until `locator`'s element has the keyboard focus: focus
 * moves after a render, so an immediate check would race it. */
export async function waitForFocus(locator, timeout = UI_TIMEOUT_MS) {
  const handle = await locator.elementHandle({ timeout });
  await locator.page().waitForFunction((n) => n === document.activeElement, handle, { timeout });
}

const AXE_SOURCE = await fs.readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's violations on the page as it is: {counts by impact, the serious and critical ones}. */
export async function axe(page) {
  // Evaluated through the debugger protocol: the page's CSP allows no injected script tag.
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length,
      targets: v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')}: ${n.failureSummary.split('\n').slice(1, 2).join('')}`) }));
  });
  const counts = { critical: 0, serious: 0, moderate: 0, minor: 0 };
  for (const v of violations) counts[v.impact] = (counts[v.impact] || 0) + v.nodes;
  return { counts, bad: violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'), all: violations };
}

export function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
