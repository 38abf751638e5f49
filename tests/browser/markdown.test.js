// Message text supports a small Markdown subset: `code`, fenced code
// blocks, **bold**, _italic_ / *italic* and ~~strike~~. Styles become
// elements, code shows literally, markup stays text, links and mentions
// keep working inside styles, and what does not pair up stays as typed.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import {
  SCREENSHOT_DIR, TEST_TIMEOUT_MS, api, createRoom, loginViaUI, messageRow, openRoomViaUI, registerUser, sendViaUI,
  serverAndBrowser, sleep, waitForMessage,
} from './helpers.js';

const STYLES = '**bold** _italic_ *also italic* ~~gone~~ and `a_b *c*`';
const PLAIN = 'keep snake_case_name, 2*3*4 and a * b as typed';
const HOSTILE = '`<script>alert(1)</script>` and **<img src=x onerror=alert(2)>**';
const LINKED = '**hi @alice see https://example.org/a_b_c**';
const BLOCK = 'before\n```\nlet x = **1** + _y_;\n<b>no</b>\n```\nafter';
const WIDE = `\`\`\`\n${'wide_line '.repeat(40)}\n\`\`\``;

const env = serverAndBrowser({
  async setup(e) {
    e.alice = await registerUser(e.server, 'alice');
    e.bob = await registerUser(e.server, 'bob');
    e.room = await createRoom(e.server, e.bob.token, 'notes');
    const bot = await e.openBot();
    e.ids = await bot.send(e.bob.token, e.room.id, [STYLES, PLAIN, HOSTILE, LINKED, BLOCK, WIDE]);
    await bot.close();
  },
});

/**
 * The message texts as compact markup built from tag names and text (never
 * from innerHTML): text escapes "<", links show their href.
 */
function shapes(page) {
  return page.$$eval('#message-log .msg .msg-text', (nodes) => {
    const ser = (n) => {
      if (n.nodeType === Node.TEXT_NODE) return n.data.replace(/</g, '&lt;');
      const tag = n.tagName.toLowerCase();
      const attrs = tag === 'a' ? ` href="${n.getAttribute('href')}"` : '';
      return `<${tag}${attrs}>${[...n.childNodes].map(ser).join('')}</${tag}>`;
    };
    return nodes.map((n) => [...n.childNodes].map(ser).join(''));
  });
}

/** WCAG contrast of the first `selector` element's text on its (composited) background. */
function contrastOf(page, selector) {
  return page.$eval(selector, (node) => {
    const parse = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const layers = [];
    for (let n = node; n && n.nodeType === Node.ELEMENT_NODE; n = n.parentElement) {
      const [r, g, b, a = 1] = parse(getComputedStyle(n).backgroundColor);
      if (a > 0) layers.push([r, g, b, a]);
      if (a >= 1) break;
    }
    let bg = [255, 255, 255];
    for (const [r, g, b, a] of layers.reverse()) bg = [r, g, b].map((v, i) => v * a + bg[i] * (1 - a));
    const lum = ([r, g, b]) => {
      const lin = (v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    };
    const fg = parse(getComputedStyle(node).color).slice(0, 3);
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  });
}

async function openPage(options) {
  const ctx = await env.newContext(options);
  const page = await ctx.newPage();
  const dialogs = [];
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    await d.dismiss().catch(() => {});
  });
  await loginViaUI(page, env.server, 'alice');
  // At phone width the room list is a drawer.
  if (await page.locator('#rooms-toggle').isVisible()) await page.locator('#rooms-toggle').click();
  await openRoomViaUI(page, 'notes');
  await waitForMessage(page, 'wide_line');
  return { ctx, page, dialogs };
}

async function closePage({ ctx, dialogs }) {
  assert.deepEqual(dialogs, [], 'no dialog opened');
  assert.deepEqual(ctx.foreign, [], 'requests to other hosts');
  assert.deepEqual(ctx.errors, [], 'page errors or CSP violations');
  await ctx.close();
}

test('styles become elements, code and markup stay literal, links and mentions work in bold', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await openPage();
  const { page } = a;
  await sendViaUI(page, 'mine: _quiet_ and `x < y`');
  await page.locator('#message-log .msg.mine em').waitFor();
  await sleep(300); // an onerror handler would have fired by now

  assert.deepEqual(await shapes(page), [
    '<strong>bold</strong> <em>italic</em> <em>also italic</em> <del>gone</del> and <code>a_b *c*</code>',
    PLAIN,
    '<code>&lt;script>alert(1)&lt;/script></code> and <strong>&lt;img src=x onerror=alert(2)></strong>',
    '<strong>hi @alice see <a href="https://example.org/a_b_c">https://example.org/a_b_c</a></strong>',
    'before<pre><code>let x = **1** + _y_;\n&lt;b>no&lt;/b></code></pre>after',
    `<pre><code>${'wide_line '.repeat(40)}</code></pre>`,
    'mine: <em>quiet</em> and <code>x &lt; y</code>',
  ]);
  for (const tag of ['script', 'img', 'b']) assert.equal(await page.locator(`#message-log .msg-text ${tag}`).count(), 0, `no <${tag}>`);
  // The mention in bold still highlights the message for Alice.
  assert.equal(await page.locator('#message-log .msg.mentions-me').count(), 1);
  assert.equal(await messageRow(page, 'hi @alice see https://example.org/a_b_c').count(), 1);

  // An edited message is rebuilt in place with its styles.
  await api(env.server, 'PATCH', `/api/rooms/${env.room.id}/messages/${env.ids[1]}`, { token: env.bob.token, body: { message: 'now **fixed** `code`' } });
  await page.locator('#message-log .msg-text strong', { hasText: 'fixed' }).waitFor();
  assert.equal((await shapes(page))[1], 'now <strong>fixed</strong> <code>code</code>');

  // Code text is readable in others' bubbles and in mine.
  for (const sel of ['.msg:not(.mine) .msg-code', '.msg:not(.mine) .msg-code-block code', '.msg.mine .msg-code']) {
    const ratio = await contrastOf(page, `#message-log ${sel}`);
    console.log(`light ${sel}: contrast ${ratio.toFixed(2)}`);
    assert.ok(ratio >= 4.5, `${sel}: contrast ${ratio.toFixed(2)} < 4.5`);
  }
  await page.locator('#message-log pre').last().scrollIntoViewIfNeeded();
  await fs.mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'markdown.png') });
  await closePage(a);
});

test('a wide code block scrolls inside its bubble at phone width, in the dark theme too', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await openPage({ viewport: { width: 390, height: 800 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
  const { page } = a;
  const pre = page.locator('#message-log pre').last();
  await pre.scrollIntoViewIfNeeded();
  const box = await pre.evaluate((p) => {
    const bubble = p.closest('.msg-bubble').getBoundingClientRect();
    const r = p.getBoundingClientRect();
    return {
      scrolls: p.scrollWidth > p.clientWidth, overflowX: getComputedStyle(p).overflowX,
      inside: r.left >= bubble.left - 0.5 && r.right <= bubble.right + 0.5, bubbleRight: bubble.right,
      pageWide: document.documentElement.scrollWidth > window.innerWidth,
    };
  });
  assert.equal(box.overflowX, 'auto');
  assert.ok(box.scrolls, 'the long line scrolls');
  assert.ok(box.inside, 'the block stays within its bubble');
  assert.ok(box.bubbleRight <= 390, 'the bubble stays on the screen');
  assert.equal(box.pageWide, false, 'the page does not scroll sideways');
  for (const sel of ['.msg-code', '.msg-code-block code']) {
    const ratio = await contrastOf(page, `#message-log ${sel}`);
    console.log(`dark ${sel}: contrast ${ratio.toFixed(2)}`);
    assert.ok(ratio >= 4.5, `${sel}: contrast ${ratio.toFixed(2)} < 4.5`);
  }
  await page.locator('#sidebar.open').waitFor({ state: 'detached' });
  await sleep(300); // let the drawer's slide-out finish
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'markdown-phone-dark.png') });
  await closePage(a);
});
