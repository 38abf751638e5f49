// Nothing is missed: the "New messages" pill counts and stands out in both
// themes; a hidden tab names the open room with a count in its title and
// dots its icon; grouped messages show their time on hover and focus;
// combining characters stay in their bubble; editing the newest message
// keeps Save in view; cut-off room names get a tooltip and show in full on
// focus; over-long pastes are kept and counted instead of cut; presence
// greys out while the socket is down. Screenshots of the pill and of the
// counters, light and dark, go to target/screenshots/.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import {
  SCREENSHOT_DIR, TEST_TIMEOUT_MS, UI_TIMEOUT_MS, createRoom, loginViaUI, messageAction, messageRow, openRoomViaUI,
  registerUser, roomButton, serverAndBrowser, waitConnected, waitForMessage,
} from './helpers.js';

let world;
/** A sidebar row's online count shows only for the open room and on hover:
 * its text is what changes with presence, so it is checked in the page. */
const ATTACHED = { state: 'attached' };

const env = serverAndBrowser({
  setup: async () => {
    const alice = await registerUser(env.server, 'alice');
    const bob = await registerUser(env.server, 'bob');
    const general = await createRoom(env.server, alice.token, 'general');
    world = { alice, bob, general };
  },
});

/** Fake the tab going to the background (or coming back): headless pages are always visible. */
function setTabHidden(page, hidden) {
  return page.evaluate((h) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (h ? 'hidden' : 'visible') });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

/** WCAG contrast ratio of two computed `rgb(...)` colours. */
function contrast(a, b) {
  const lum = (css) => {
    const [r, g, bl] = css.match(/[\d.]+/g).slice(0, 3).map(Number).map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** Colours of the pill, its ring, its text and an own message's bubble. */
function pillColours(page) {
  return page.evaluate(() => {
    const jump = document.getElementById('jump-latest');
    const mine = document.querySelector('#message-log .msg.mine .msg-bubble');
    const style = getComputedStyle(jump);
    return {
      pill: style.backgroundColor,
      // The first shadow is a solid ring around the pill.
      ring: style.boxShadow.match(/rgba?\([^)]*\)/)[0],
      text: style.color,
      mine: getComputedStyle(mine).backgroundColor,
    };
  });
}

/**
 * Whether every pixel of the page's `clip` has one colour (within a small
 * tolerance), read from a screenshot decoded by the page's own canvas.
 */
async function plainArea(page, clip) {
  const png = (await page.screenshot({ clip })).toString('base64');
  return page.evaluate(async (data) => {
    const img = new Image();
    img.src = `data:image/png;base64,${data}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.width;
    canvas.height = img.height;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const px = ctx.getImageData(0, 0, img.width, img.height).data;
    for (let i = 4; i < px.length; i += 4) {
      for (let c = 0; c < 3; c++) if (Math.abs(px[i + c] - px[c]) > 12) return false;
    }
    return true;
  }, png);
}

/** Switch the theme and let the colour transitions (.15 s) finish. */
async function setScheme(page, scheme) {
  await page.emulateMedia({ colorScheme: scheme });
  await page.waitForTimeout(300);
}

async function openGeneral(page) {
  await loginViaUI(page, env.server, 'alice');
  await openRoomViaUI(page, 'general');
}

test('the new-messages pill counts and stands out; a hidden tab counts in its title and icon', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { alice, bob, general } = world;
  const bot = await env.openBot();
  await bot.send(bob.token, general.id, Array.from({ length: 30 }, (_, i) => `filler ${i + 1}`));
  await bot.send(alice.token, general.id, ['my own words, in the accent colour', 'and a second line of mine']);

  const ctx = await env.newContext();
  const page = await ctx.newPage();
  await openGeneral(page);
  await waitForMessage(page, 'and a second line of mine');

  // Scrolled up, three messages arrive: the pill says how many.
  await page.evaluate(() => { document.getElementById('log-scroll').scrollTop = 0; });
  await bot.send(bob.token, general.id, ['new 1', 'new 2', 'new 3']);
  const pill = page.locator('#jump-latest');
  await pill.filter({ hasText: '3 new messages' }).waitFor();

  // Bring the pill over the own (accent) messages for the pictures.
  await page.evaluate(() => {
    const s = document.getElementById('log-scroll');
    s.scrollTop = s.scrollHeight - s.clientHeight - 150;
  });
  for (const scheme of ['light', 'dark']) {
    await setScheme(page, scheme);
    const c = await pillColours(page);
    // Its fill or its ring sets it apart from own messages.
    assert.ok(Math.max(contrast(c.pill, c.mine), contrast(c.ring, c.mine)) >= 3,
      `${scheme}: the pill (${c.pill}, ring ${c.ring}) stands out from own messages (${c.mine})`);
    assert.ok(contrast(c.pill, c.text) >= 4.5, `${scheme}: the pill's text reads (${c.text} on ${c.pill})`);
    await page.locator('.log-wrap').screenshot({ path: path.join(SCREENSHOT_DIR, `details-pill-${scheme}.png`) });
  }
  await setScheme(page, 'light');

  // One more while still scrolled up; the count follows, and clicking goes down and drops it.
  await bot.send(bob.token, general.id, ['new 4']);
  await pill.filter({ hasText: '4 new messages' }).waitFor();
  await pill.click();
  await pill.waitFor({ state: 'hidden' });
  await page.waitForFunction(() => document.title === 'Chatroom', null, { timeout: UI_TIMEOUT_MS });

  // The tab goes to the background: messages in the open room show in the title and icon.
  await setTabHidden(page, true);
  await bot.send(bob.token, general.id, ['while away 1', 'while away 2', 'while away 3']);
  await page.waitForFunction(() => document.title === '(3) general · Chatroom', null, { timeout: UI_TIMEOUT_MS });
  assert.equal(await page.locator('link[rel="icon"]').getAttribute('href'), 'favicon-unread.svg');

  // Back in front: both are restored (what is on screen is read).
  await setTabHidden(page, false);
  await page.waitForFunction(() => document.title === 'Chatroom', null, { timeout: UI_TIMEOUT_MS });
  assert.equal(await page.locator('link[rel="icon"]').getAttribute('href'), 'favicon.svg');
  assert.deepEqual(ctx.errors, []);
  await bot.close();
  await ctx.close();
});

test('grouped messages show their time; combining marks stay in the bubble; the newest message edits in view', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { alice, bob, general } = world;
  const bot = await env.openBot();
  await bot.send(bob.token, general.id, ['group head', 'group middle', 'group tail']);
  const zalgo = `Z${'\u0336\u0353\u0354\u0355\u0356\u0359\u035a\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308'.repeat(4)}algo`;
  await bot.send(alice.token, general.id, [zalgo, 'my newest words']);

  const ctx = await env.newContext();
  const page = await ctx.newPage();
  await openGeneral(page);
  await waitForMessage(page, 'my newest words');

  // A grouped row: no header, its time hidden until hover or focus.
  const middle = messageRow(page, 'group middle');
  assert.match(await middle.getAttribute('class'), /\bcontinued\b/);
  const time = middle.locator('.msg-time');
  const opacity = () => time.evaluate((n) => Number(getComputedStyle(n).opacity));
  assert.equal(await opacity(), 0);
  await middle.locator('.msg-bubble').hover();
  await page.waitForFunction(() => {
    const t = [...document.querySelectorAll('#message-log .msg.continued .msg-time')];
    return t.some((n) => getComputedStyle(n).opacity === '1' && n.getBoundingClientRect().width > 0);
  }, null, { timeout: UI_TIMEOUT_MS });
  assert.ok(await time.isVisible());
  assert.match(await time.getAttribute('title'), /\d{4}/, 'the tooltip has the full date');
  await page.mouse.move(0, 0);
  await page.waitForFunction(() => [...document.querySelectorAll('#message-log .msg.continued .msg-time')]
    .every((n) => getComputedStyle(n).opacity === '0'), null, { timeout: UI_TIMEOUT_MS });
  // Keyboard focus in the row shows it too.
  await middle.focus();
  await middle.getByRole('button', { name: 'Add reaction' }).focus();
  await page.waitForFunction(() => {
    const row = document.activeElement.closest('.msg');
    return getComputedStyle(row.querySelector('.msg-time')).opacity === '1';
  }, null, { timeout: UI_TIMEOUT_MS });

  // Zalgo: the strip just above and below its bubble stays plain background.
  const bubble = await page.locator('#message-log .msg', { hasText: 'algo' }).locator('.msg-bubble').boundingBox();
  assert.ok(await plainArea(page, { x: bubble.x + 2, y: bubble.y - 9, width: bubble.width - 4, height: 8 }),
    'nothing drawn above the bubble');
  assert.ok(await plainArea(page, { x: bubble.x + 2, y: bubble.y + bubble.height + 1, width: bubble.width - 4, height: 2 }),
    'nothing drawn below the bubble');

  // Editing the newest message: Save and Cancel are on screen, also as the text grows.
  const inView = () => page.evaluate(() => {
    const view = document.getElementById('log-scroll').getBoundingClientRect();
    return [...document.querySelectorAll('.msg-editor button')].every((b) => {
      const r = b.getBoundingClientRect();
      return r.height > 0 && r.top >= view.top && r.bottom <= view.bottom;
    });
  });
  await messageAction(page, 'my newest words', 'Edit message');
  const box = page.getByRole('textbox', { name: 'Edit message' });
  await box.waitFor();
  await page.waitForFunction(() => document.querySelector('.msg-editor button'), null, { timeout: UI_TIMEOUT_MS });
  await page.waitForTimeout(100); // the scroll is instant; give layout a frame
  assert.ok(await inView(), 'Save and Cancel visible when the editor opens');
  for (let i = 0; i < 5; i++) await box.press('Shift+Enter');
  await box.pressSequentially('more');
  await page.waitForTimeout(100);
  assert.ok(await inView(), 'still visible after the text grew');
  await box.press('Escape');
  assert.deepEqual(ctx.errors, []);
  await bot.close();
  await ctx.close();
});

test('long names get tooltips and show in full; long pastes are counted, not cut; presence greys out offline', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { alice } = world;
  const longName = `W${'ide room name '.repeat(4)}`.slice(0, 60).trim();
  const longDesc = 'A description that goes on and on, '.repeat(8).trim();
  await createRoom(env.server, alice.token, longName, { description: longDesc });

  const ctx = await env.newContext();
  const page = await ctx.newPage();
  await loginViaUI(page, env.server, 'alice');

  // The sidebar's cut-off name has the whole name as its tooltip.
  assert.equal(await roomButton(page, longName).locator('.room-name').getAttribute('title'), longName);
  await openRoomViaUI(page, longName);
  const head = page.locator('.chat-title');
  await page.waitForFunction(() => document.querySelector('.chat-title').tabIndex === 0, null, { timeout: UI_TIMEOUT_MS });
  assert.equal(await page.locator('#room-desc').getAttribute('title'), longDesc);
  // Focused, the header shows the whole description: nothing is cut.
  await head.focus();
  await page.waitForFunction(() => {
    const d = document.getElementById('room-desc');
    return d.scrollWidth <= d.clientWidth && d.getBoundingClientRect().height > 24;
  }, null, { timeout: UI_TIMEOUT_MS });

  // 200 characters pasted into a 64-character name: kept, counted, refused with a reason.
  await page.getByRole('button', { name: 'New room' }).click();
  const dialog = page.getByRole('dialog', { name: 'New room' });
  const name = dialog.getByLabel('Name');
  await name.focus();
  await page.keyboard.insertText('x'.repeat(60));
  const limit = page.locator('#room-name + .char-limit');
  await limit.locator('.char-count', { hasText: '60/64' }).waitFor();
  assert.equal(await limit.locator('.char-over').textContent(), '');
  await name.fill('');
  await page.keyboard.insertText('n'.repeat(200));
  assert.equal((await name.inputValue()).length, 200, 'the paste is not cut');
  await limit.locator('.char-over', { hasText: 'Too long: 136 characters over the limit of 64.' }).waitFor();
  assert.equal(await name.getAttribute('aria-invalid'), 'true');
  for (const scheme of ['light', 'dark']) {
    await setScheme(page, scheme);
    await dialog.screenshot({ path: path.join(SCREENSHOT_DIR, `details-counter-${scheme}.png`) });
  }
  await setScheme(page, 'light');
  await dialog.getByRole('button', { name: 'Create room' }).click();
  await dialog.locator('.form-error', { hasText: 'at most 64 characters' }).waitFor();
  await dialog.getByRole('button', { name: 'Cancel' }).click();

  // 5,000 characters into the composer: kept, counted, not sent.
  const composer = page.getByRole('textbox', { name: 'Message', exact: true });
  await composer.focus();
  await page.keyboard.insertText('m'.repeat(5000));
  assert.equal((await composer.inputValue()).length, 5000);
  const counter = page.locator('#composer .char-limit');
  await counter.locator('.char-over', { hasText: '1000 characters over the limit of 4000' }).waitFor();
  // The counter floats just above the composer's corner.
  const at = await page.locator('#composer').boundingBox();
  const clip = { x: at.x, y: at.y - 40, width: at.width, height: Math.min(at.height, 120) + 40 };
  for (const scheme of ['light', 'dark']) {
    await setScheme(page, scheme);
    await page.screenshot({ clip, path: path.join(SCREENSHOT_DIR, `details-composer-counter-${scheme}.png`) });
  }
  await setScheme(page, 'light');
  await composer.press('Enter');
  await page.locator('#composer-error', { hasText: 'at most 4000 characters' }).waitFor();
  await composer.fill('');
  assert.ok(await counter.evaluate((n) => n.classList.contains('quiet')), 'no counter far from the limit');

  // The server goes away: presence is unknown, so greyed out as offline until it is back.
  await roomButton(page, 'general').locator('.room-online', { hasText: '1 online' }).waitFor(ATTACHED);
  await page.locator('#online-list .person:not(.offline)', { hasText: 'alice' }).waitFor();
  await env.server.stop();
  await page.locator('#conn-status[data-state="reconnecting"]').waitFor();
  await roomButton(page, 'general').locator('.room-online', { hasText: 'offline' }).waitFor(ATTACHED);
  assert.equal(await roomButton(page, 'general').locator('.dot.online').count(), 0);
  await page.locator('#online-list .person.offline', { hasText: 'alice' }).waitFor();
  assert.equal(await page.locator('#people-count').textContent(), 'offline');
  await env.restart();
  await waitConnected(page, 30000);
  await roomButton(page, 'general').locator('.room-online', { hasText: '1 online' }).waitFor(ATTACHED);
  await page.locator('#online-list .person:not(.offline)', { hasText: 'alice' }).waitFor();
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});
