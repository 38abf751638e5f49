// Sending faster than the server allows is answered with a `rate_limited`
// error frame; the page says so, keeps the unsent text, and recovers.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  TEST_TIMEOUT_MS, createRoomViaUI, logTexts, registerViaUI, sendViaUI, serverAndBrowser, sleep, waitConnected,
  waitForMessage,
} from './helpers.js';

// One message a second after a burst of two.
const env = serverAndBrowser({ extraArgs: ['--message-rate', '1', '--message-burst', '2'] });

test('a rate-limited message is explained and can be sent again', { timeout: TEST_TIMEOUT_MS }, async () => {
  const ctx = await env.newContext();
  const page = await ctx.newPage();
  await registerViaUI(page, env.server, 'speedy');
  await createRoomViaUI(page, 'fast');

  await sendViaUI(page, 'one');
  await sendViaUI(page, 'two');
  const box = page.getByRole('textbox', { name: 'Message', exact: true });
  await box.fill('three');
  await box.press('Enter');
  await page.locator('#composer-error', { hasText: /too fast/ }).waitFor();
  assert.equal(await box.inputValue(), 'three', 'the unsent text is kept');

  // After a pause (and a reconnect, should the server have closed us) it goes through.
  await sleep(2500);
  await waitConnected(page, 30000);
  await box.press('Enter');
  await waitForMessage(page, 'three');
  assert.deepEqual(await logTexts(page), ['one', 'two', 'three']);
  assert.deepEqual(ctx.foreign, []);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});
