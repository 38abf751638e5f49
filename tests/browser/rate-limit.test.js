// Sending faster than the server allows is answered with a `rate_limited`
// error frame; the page says so, keeps the unsent text, and recovers.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  HOOK, TEST_TIMEOUT_MS, createRoomViaUI, launchBrowser, logTexts, newContext, registerViaUI, removeDir,
  sendViaUI, sleep, startServer, waitConnected, waitForMessage,
} from './helpers.js';

let server;
let browser;

before(async () => {
  // One message a second after a burst of two.
  server = await startServer({ extraArgs: ['--message-rate', '1', '--message-burst', '2'] });
  browser = await launchBrowser();
}, HOOK);

after(async () => {
  if (browser) await browser.close();
  if (server) {
    await server.stop();
    await removeDir(server.dataDir);
  }
}, HOOK);

test('a rate-limited message is explained and can be sent again', { timeout: TEST_TIMEOUT_MS }, async () => {
  const ctx = await newContext(browser, server);
  const page = await ctx.newPage();
  await registerViaUI(page, server, 'speedy');
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
