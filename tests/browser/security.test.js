// User content is text, never markup: hostile messages and room names show
// literally, run nothing, and create no elements. The page talks to no host
// but the server, and its code cannot build HTML from strings.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import {
  REPO_ROOT, TEST_TIMEOUT_MS, createRoom, logTexts, openRoomViaUI, registerUser, registerViaUI, sendViaUI,
  serverAndBrowser, sleep, waitForMessage,
} from './helpers.js';

const IMG = '<img src=x onerror=alert(1)>';
const HOSTILE = [
  '<script>alert(2)</script>',
  '"><svg onload=alert(3)>',
  'javascript:alert(4)',
  'see http://example.com/"><img src=x onerror=alert(5)> ok',
  '<a href="javascript:alert(6)">click</a>',
  '&lt;b&gt;not bold&lt;/b&gt; <b>nor this</b>',
];

const env = serverAndBrowser();

test('an <img onerror> message shows as literal text and runs nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
  const bob = await registerUser(env.server, 'mallory');
  const roomName = '<img src=x onerror=alert(7)> room';
  const room = await createRoom(env.server, bob.token, roomName, { description: '<b onmouseover=alert(8)>desc</b>' });

  const ctx = await env.newContext();
  const page = await ctx.newPage();
  const dialogs = [];
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    await d.dismiss().catch(() => {});
  });

  await registerViaUI(page, env.server, 'victim');
  await openRoomViaUI(page, roomName);

  // Sent by someone else over the WebSocket, and by the viewer through the UI.
  const bot = await env.openBot();
  await bot.send(bob.token, room.id, [IMG, ...HOSTILE]);
  await waitForMessage(page, 'nor this');
  await sendViaUI(page, IMG);
  await page.locator('#message-log .msg.mine').waitFor();
  await sleep(500); // an onerror handler would have fired by now

  assert.deepEqual(await logTexts(page), [IMG, ...HOSTILE, IMG]);
  assert.deepEqual(dialogs, [], 'no dialog opened');
  // The only elements besides text: the client's own edit/delete buttons and their icons.
  for (const tag of ['img', 'script', 'svg', 'b', 'iframe']) {
    const outside = await page.$$eval(`#message-log ${tag}`, (ns) => ns.filter((n) => !n.closest('.msg-actions')).length);
    assert.equal(outside, 0, `no <${tag}> in the log`);
  }
  assert.deepEqual(await page.$$eval('#message-log .msg-actions *',
    (ns) => [...new Set(ns.map((n) => n.tagName.toLowerCase()))].sort()), ['button', 'path', 'svg']);
  // The only link is the http URL, cut before the quote, and it is safe.
  const links = await page.$$eval('#message-log a', (as) => as.map((a) => ({
    href: a.getAttribute('href'), text: a.textContent, target: a.target, rel: a.rel,
  })));
  assert.deepEqual(links, [{ href: 'http://example.com/', text: 'http://example.com/', target: '_blank', rel: 'noopener noreferrer' }]);

  // Room names and descriptions are text too.
  assert.equal(await page.locator('#room-title').textContent(), roomName);
  assert.equal(await page.locator('#room-desc').textContent(), '<b onmouseover=alert(8)>desc</b>');
  assert.equal(await page.locator('#room-list img, #room-title img, #room-desc b').count(), 0);

  assert.ok(ctx.requests > 5, 'requests were observed');
  assert.deepEqual(ctx.foreign, [], 'no request to another host');
  assert.deepEqual(ctx.errors, [], 'no page errors or CSP violations');
  await bot.close();
  await ctx.close();
});

test('the page needs nothing but the server', { timeout: TEST_TIMEOUT_MS }, async () => {
  const ctx = await env.newContext();
  const page = await ctx.newPage();
  const urls = [];
  page.on('request', (r) => urls.push(r.url()));
  await page.goto(env.server.url + '/');
  await page.locator('#auth-form').waitFor();
  await page.waitForLoadState('networkidle');
  const hosts = new Set(urls.map((u) => new URL(u).host));
  assert.deepEqual([...hosts], [env.server.host]);
  // The stylesheet, the modules and the icon all came from the server.
  for (const want of ['/style.css', '/js/app.js', '/favicon.svg']) {
    assert.ok(urls.some((u) => new URL(u).pathname === want), `${want} requested`);
  }
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('the client contains no inline code and never parses HTML', async () => {
  const dir = path.join(REPO_ROOT, 'static');
  const html = await fs.readFile(path.join(dir, 'index.html'), 'utf8');
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline <script>');
  assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'no inline event handlers');
  assert.doesNotMatch(html, /\sstyle\s*=/i, 'no inline style attributes');
  assert.doesNotMatch(html, /<style/i, 'no <style> blocks');
  assert.doesNotMatch(html, /https?:\/\//i, 'no absolute URLs (CDN, fonts)');

  const files = [];
  async function walk(d) {
    for (const entry of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) await walk(p);
      else if (/\.(js|css)$/.test(entry.name)) files.push(p);
    }
  }
  await walk(dir);
  assert.ok(files.length > 3);
  for (const f of files) {
    const src = await fs.readFile(f, 'utf8');
    const rel = path.relative(REPO_ROOT, f);
    assert.doesNotMatch(src, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/, `${rel} builds no HTML from strings`);
    assert.doesNotMatch(src, /@import\s+url\(\s*['"]?https?:|fonts\.googleapis/i, `${rel} loads nothing external`);
  }
});
