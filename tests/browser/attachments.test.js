// Files in the web client: pictures dropped onto the conversation and
// pasted into the message box, a PDF chosen with the attach button, sent in
// one message; another user sees the thumbnails (the images load), opens
// them in the lightbox (arrow keys, Escape back to the thumbnail) and
// downloads the PDF byte for byte. A file over the server's limit, and one
// past the user's quota, are refused in words; an upload cancelled while
// it runs leaves nothing behind and sends nothing. A message whose files
// are uploaded waits offline with them and goes out once. Screenshots of a
// message with pictures and a card, light and dark.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import zlib from 'node:zlib';
import {
  SCREENSHOT_DIR, api, createRoom, registerUser, serverAndBrowser, waitConnected, waitForFocus,
} from './helpers.js';

const AXE_SOURCE = await fs.readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** Every test of this file is bounded well below the suite's bound. */
const FILES_TEST_MS = 30000;
/** The server takes files up to this size (MiB) and this much per user in all. */
const MAX_UPLOAD_MB = 1;
const QUOTA_MB = 2;

let world;
const env = serverAndBrowser({
  extraArgs: ['--max-upload-mb', String(MAX_UPLOAD_MB), '--upload-quota-mb', String(QUOTA_MB)],
  setup: async () => { world = await seedWorld(); },
});

async function seedWorld() {
  const alice = await registerUser(env.server, 'alice');
  const bob = await registerUser(env.server, 'bob');
  const carol = await registerUser(env.server, 'carol');
  const room = await createRoom(env.server, alice.token, 'photos', { description: 'Pictures and documents' });
  return { alice, bob, carol, room };
}

// ---- files made here ----------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A real RGB PNG of w x h: a gradient from `from` to `to` (so it is no blank square). */
function png(w, h, from, to) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    const row = y * (w * 3 + 1);
    for (let x = 0; x < w; x++) {
      const t = (x + y) / (w + h);
      for (let c = 0; c < 3; c++) raw[row + 1 + x * 3 + c] = Math.round(from[c] + (to[c] - from[c]) * t);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr), pngChunk('IDAT', zlib.deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A small PDF of exactly `n` bytes: random filler in a comment (the server recognises it by "%PDF-"). */
function pdf(n) {
  const head = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%', 'latin1');
  const tail = Buffer.from('\n%%EOF\n', 'ascii');
  const fill = Buffer.from(crypto.randomBytes(n).toString('base64').slice(0, n - head.length - tail.length), 'ascii');
  return Buffer.concat([head, fill, tail]);
}

const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');
const asFile = (name, type, bytes) => ({ name, type, b64: bytes.toString('base64') });

// ---- driving the page ---------------------------------------------------------

/** A page logged in as `who` (a saved token) in the room. */
async function openRoom(who, options = {}) {
  const ctx = await env.newContext(options);
  await ctx.addInitScript(([t, roomId]) => {
    if (location.protocol !== 'http:') return;
    localStorage.setItem('chatroom.token', t);
    localStorage.setItem('chatroom.lastRoom', roomId);
  }, [who.token, world.room.id]);
  const page = await ctx.newPage();
  await page.goto(env.server.url + '/');
  await waitConnected(page);
  await page.locator('#room-title', { hasText: 'photos' }).waitFor();
  return { ctx, page };
}

/** A DataTransfer in the page holding `files` ({name, type, b64}). */
function dataTransfer(page, files) {
  return page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) {
      const bytes = Uint8Array.from(atob(f.b64), (ch) => ch.charCodeAt(0));
      dt.items.add(new File([bytes], f.name, { type: f.type }));
    }
    return dt;
  }, files);
}

/** Drag `files` over the conversation (its drop target shows) and drop them. */
async function dropFiles(page, files) {
  const dt = await dataTransfer(page, files);
  await page.dispatchEvent('#log-scroll', 'dragenter', { dataTransfer: dt });
  await page.locator('.drop-target').waitFor({ state: 'visible' });
  assert.match(await page.locator('.drop-target').textContent(), /Drop files to send them to photos/);
  await page.dispatchEvent('#log-scroll', 'dragover', { dataTransfer: dt });
  await page.dispatchEvent('#log-scroll', 'drop', { dataTransfer: dt });
  await page.locator('.drop-target').waitFor({ state: 'hidden' });
}

/** Paste `file` into the message box as a browser does for a copied picture. */
async function pasteFile(page, file) {
  const dt = await dataTransfer(page, [file]);
  await page.evaluate((data) => {
    const ev = new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true });
    document.getElementById('composer-input').dispatchEvent(ev);
  }, dt);
}

const chips = (page) => page.locator('#composer .upload-chip');
const chip = (page, name) => page.locator('#composer .upload-chip', { has: page.locator('.upload-name', { hasText: name }) });

async function history(token) {
  const res = await api(env.server, 'GET', `/api/rooms/${world.room.id}/messages?limit=200`, { token });
  return res.messages;
}

/** axe-core's serious and critical violations on the page as it is. */
async function seriousViolations(page) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
}

// ---- the tests ------------------------------------------------------------------

const RED = png(640, 480, [200, 30, 40], [250, 180, 60]);
const BLUE = png(300, 600, [20, 60, 200], [120, 220, 250]);
const PDF = pdf(40000);

test('pictures dropped and pasted and a PDF attached are sent; another user sees, opens and downloads them',
  { timeout: FILES_TEST_MS }, async () => {
    const t0 = Date.now();
    const a = await openRoom(world.alice);
    const b = await openRoom(world.bob);

    // Dropped onto the conversation, pasted into the box, chosen with the attach button.
    await dropFiles(a.page, [asFile('sunset.png', 'image/png', RED)]);
    await pasteFile(a.page, asFile('image.png', 'image/png', BLUE));
    const [chooser] = await Promise.all([
      a.page.waitForEvent('filechooser'),
      a.page.getByRole('button', { name: 'Attach files' }).click(),
    ]);
    assert.ok(chooser.isMultiple(), 'several files may be chosen at once');
    await chooser.setFiles({ name: 'minutes.pdf', mimeType: 'application/pdf', buffer: PDF });

    await a.page.locator('#composer .upload-chip[data-state=done]').nth(2).waitFor();
    const names = await a.page.$$eval('#composer .upload-name', (ns) => ns.map((n) => n.textContent));
    assert.equal(names.length, 3);
    assert.equal(names[0], 'sunset.png');
    assert.match(names[1], /^pasted-\d{4}-\d\d-\d\d-\d{6}\.png$/, 'a pasted picture is named for when');
    assert.equal(names[2], 'minutes.pdf');
    assert.equal(await chip(a.page, 'minutes.pdf').locator('.upload-size').textContent(), '39 KB');
    assert.equal(await a.page.locator('#composer .upload-state', { hasText: 'Ready' }).count(), 3);

    const box = a.page.getByRole('textbox', { name: 'Message', exact: true });
    await box.fill('Two pictures and the minutes');
    await box.press('Enter');
    await chips(a.page).first().waitFor({ state: 'detached' });
    assert.equal(await box.inputValue(), '');

    const [sent] = (await history(world.bob.token)).slice(-1);
    assert.equal(sent.message, 'Two pictures and the minutes');
    assert.deepEqual(sent.attachments.map((f) => [f.name.replace(/^pasted-.*/, 'pasted'), f.type, f.size]),
      [['sunset.png', 'image/png', RED.length], ['pasted', 'image/png', BLUE.length], ['minutes.pdf', 'application/pdf', PDF.length]]);

    // Bob: two thumbnails that load, in the size they were given before loading.
    const thumbs = b.page.locator('#message-log .att-thumb img');
    await thumbs.nth(1).waitFor();
    await b.page.waitForFunction(() => {
      const imgs = [...document.querySelectorAll('#message-log .att-thumb img')];
      return imgs.length === 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
    }, null, { timeout: 10000 });
    const sizes = await thumbs.evaluateAll((imgs) => imgs.map((i) => [i.alt, i.getAttribute('width'), i.getAttribute('height'),
      Math.round(i.getBoundingClientRect().width), Math.round(i.getBoundingClientRect().height), new URL(i.src).pathname]));
    assert.deepEqual(sizes.map((s) => s.slice(1, 5)), [['320', '240', 320, 240], ['120', '240', 120, 240]]);
    assert.equal(sizes[0][0], 'sunset.png', 'the alt text is the name');
    assert.match(sizes[0][5], /^\/api\/files\/[^/]+\/thumbnail$/);
    const srcs = await thumbs.evaluateAll((imgs) => imgs.map((i) => i.src));
    for (const src of srcs) {
      assert.match(src, /[?&]sig=[0-9a-f]+/, 'a signed link');
      assert.ok(!src.includes(world.bob.token), 'no token in a URL');
    }

    // The PDF: a card with its kind, size, and a download of the same bytes.
    const card = b.page.locator('#message-log .att-card');
    assert.equal(await card.locator('.att-name').textContent(), 'minutes.pdf');
    assert.equal(await card.locator('.att-meta').textContent(), 'PDF document · 39 KB');
    const link = card.getByRole('link', { name: 'Download minutes.pdf (39 KB)' });
    await b.page.waitForFunction(() => /sig=/.test(document.querySelector('#message-log .att-download').href), null, { timeout: 5000 });
    const [download] = await Promise.all([b.page.waitForEvent('download'), link.click()]);
    assert.equal(download.suggestedFilename(), 'minutes.pdf');
    const got = await fs.readFile(await download.path());
    assert.equal(got.length, PDF.length);
    assert.equal(sha256(got), sha256(PDF), 'the same bytes');

    // The lightbox: the original at full size; arrows move; Escape goes back to the thumbnail.
    const first = b.page.locator('#message-log .att-thumb').first();
    await first.click();
    await b.page.getByRole('dialog', { name: 'sunset.png' }).waitFor();
    const dialog = b.page.locator('dialog.lightbox');
    const full = dialog.locator('.lightbox-img');
    const natural = () => b.page.waitForFunction(() => {
      const i = document.querySelector('.lightbox-img');
      return i.complete && i.naturalWidth > 0 && i.naturalWidth;
    }, null, { timeout: 5000 }).then((h) => h.jsonValue());
    assert.equal(await natural(), 640, 'the original, not the thumbnail');
    assert.equal(await dialog.locator('.lightbox-count').textContent(), '1 of 2');
    assert.match(new URL(await full.getAttribute('src'), env.server.url).pathname, /^\/api\/files\/[^/]+$/);
    assert.deepEqual(await seriousViolations(b.page), [], 'the lightbox has no serious accessibility violation');
    await b.page.keyboard.press('ArrowRight');
    await b.page.getByRole('dialog', { name: /^pasted-/ }).waitFor();
    assert.equal(await natural(), 300);
    assert.equal(await dialog.locator('.lightbox-count').textContent(), '2 of 2');
    await b.page.keyboard.press('ArrowLeft');
    await b.page.getByRole('dialog', { name: 'sunset.png' }).waitFor();
    await b.page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await waitForFocus(first);
    // From the keyboard: Enter on the thumbnail opens it again.
    await b.page.keyboard.press('Enter');
    await dialog.waitFor();
    await b.page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await waitForFocus(first);

    // Light and dark, and no serious accessibility violation with files on the page.
    await b.page.locator('#message-log .msg').last().scrollIntoViewIfNeeded();
    for (const scheme of ['light', 'dark']) {
      await b.page.emulateMedia({ colorScheme: scheme });
      await b.page.waitForTimeout(300); // the buttons' colour transitions
      await b.page.screenshot({ path: path.join(SCREENSHOT_DIR, `attachments-${scheme}.png`) });
      assert.deepEqual(await seriousViolations(b.page), [], `no serious violation (${scheme})`);
    }
    assert.deepEqual([...a.ctx.errors, ...b.ctx.errors], [], 'no page errors or CSP violations');
    assert.deepEqual([...a.ctx.foreign, ...b.ctx.foreign], []);
    await a.ctx.close();
    await b.ctx.close();
    console.log(`files end to end: ${Date.now() - t0} ms`);
  });

test('too large, over quota, and cancelled uploads: said in words, nothing sent', { timeout: FILES_TEST_MS }, async () => {
  const t0 = Date.now();
  // Carol used most of her quota already (two files of 0.9 MiB, through the API).
  const part = Buffer.alloc(Math.floor(0.9 * 1024 * 1024), 7);
  for (const name of ['one.bin', 'two.bin']) {
    const res = await fetch(`${env.server.url}/api/rooms/${world.room.id}/files`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${world.carol.token}`, 'X-Filename': name, 'Content-Type': 'application/octet-stream' },
      body: part,
      signal: AbortSignal.timeout(10000),
    });
    assert.equal(res.status, 201);
  }
  const before = (await history(world.carol.token)).length;
  const { ctx, page } = await openRoom(world.carol);
  const error = page.locator('#composer-error');

  // Over the server's limit: the chip and the alert say so, with the limit.
  await dropFiles(page, [asFile('huge.bin', 'application/octet-stream', Buffer.alloc(1536 * 1024, 1))]);
  const huge = chip(page, 'huge.bin');
  await huge.locator('.upload-state', { hasText: 'Too large: files can be at most 1 MB on this server.' }).waitFor();
  assert.equal(await error.textContent(), '“huge.bin”: Too large: files can be at most 1 MB on this server.');
  // A failed file holds Send back, saying why.
  await page.getByRole('textbox', { name: 'Message', exact: true }).fill('not yet');
  await page.getByRole('textbox', { name: 'Message', exact: true }).press('Enter');
  await error.filter({ hasText: 'A file could not be uploaded: retry it or remove it first.' }).waitFor();
  await huge.getByRole('button', { name: 'Remove huge.bin' }).click();
  await huge.waitFor({ state: 'detached' });

  // Past the quota (0.9 + 0.9 + 0.5 > 2 MiB).
  await dropFiles(page, [asFile('third.bin', 'application/octet-stream', Buffer.alloc(512 * 1024, 2))]);
  await chip(page, 'third.bin').locator('.upload-state', { hasText: /would use more space than this server allows you/ }).waitFor();
  await chip(page, 'third.bin').getByRole('button', { name: 'Remove third.bin' }).click();

  // Cancelled while it runs (the request is held, as on a slow line): no chip, nothing sent.
  let held;
  const arrived = new Promise((resolve) => { held = resolve; });
  await page.route('**/api/rooms/*/files', (route) => held(route));
  await dropFiles(page, [asFile('slow.png', 'image/png', RED)]);
  const route = await arrived;
  const slow = chip(page, 'slow.png');
  await slow.locator('progress').waitFor();
  await page.locator('#upload-status', { hasText: 'Uploading 1 file… Send waits until it is done.' }).waitFor();
  assert.equal(await page.locator('#send-btn').getAttribute('aria-disabled'), 'true');
  await page.getByRole('textbox', { name: 'Message', exact: true }).press('Enter');
  await error.filter({ hasText: 'Wait: a file is still uploading.' }).waitFor();
  assert.deepEqual(await seriousViolations(page), [], 'the chips have no serious accessibility violation');
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'attachments-uploading.png') });
  await slow.getByRole('button', { name: 'Cancel upload of slow.png' }).click();
  await slow.waitFor({ state: 'detached' });
  await route.abort().catch(() => {});
  assert.equal(await chips(page).count(), 0, 'no chip left');
  assert.equal(await page.locator('#send-btn').getAttribute('aria-disabled'), null, 'Send is back');
  assert.equal(await page.getByRole('textbox', { name: 'Message', exact: true }).inputValue(), 'not yet', 'the text stays');
  assert.equal((await history(world.carol.token)).length, before, 'nothing was sent');
  assert.equal(await page.locator('#outbox-log .msg').count(), 0, 'nothing waits to be sent');
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
  console.log(`refusals and cancel: ${Date.now() - t0} ms`);
});

test('a message whose files are uploaded waits offline with them and goes out once the server is back',
  { timeout: FILES_TEST_MS }, async () => {
    const t0 = Date.now();
    const { ctx, page } = await openRoom(world.alice);
    await dropFiles(page, [asFile('offline.png', 'image/png', BLUE)]);
    await chip(page, 'offline.png').locator('.upload-state', { hasText: 'Ready' }).waitFor();

    await env.server.stop();
    await page.locator('#conn-status[data-state="reconnecting"]').waitFor();
    const box = page.getByRole('textbox', { name: 'Message', exact: true });
    await box.fill('sent while offline');
    await box.press('Enter');
    await chips(page).first().waitFor({ state: 'detached' });
    await page.locator('#outbox-log .outbox-files', { hasText: 'With a file: offline.png' }).waitFor();

    await env.restart();
    await waitConnected(page, 20000);
    await page.locator('#outbox-log').waitFor({ state: 'hidden' });
    const row = page.locator('#message-log .msg', { hasText: 'sent while offline' });
    await row.locator('.att-thumb img[alt="offline.png"]').waitFor();
    const mine = (await history(world.alice.token)).filter((m) => m.message === 'sent while offline');
    assert.equal(mine.length, 1, 'sent once');
    assert.deepEqual(mine[0].attachments.map((f) => f.name), ['offline.png']);
    assert.deepEqual(ctx.errors, []);
    await ctx.close();
    console.log(`offline with files: ${Date.now() - t0} ms`);
  });
