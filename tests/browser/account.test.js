// Changing the password from the account button: a wrong current password
// is explained, a right one changes it, this page logs in again by itself,
// and every other device of the user is sent back to the log-in screen.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import {
  PASSWORD, SCREENSHOT_DIR, TEST_TIMEOUT_MS, api, loginViaUI, registerViaUI, serverAndBrowser, waitConnected,
} from './helpers.js';

const NEW_PASSWORD = 'a brand new passphrase';

const env = serverAndBrowser();

test('changing the password logs this page in again and other devices out', { timeout: TEST_TIMEOUT_MS }, async () => {
  const ctx = await env.newContext();
  const page = await ctx.newPage();
  await registerViaUI(page, env.server, 'alice');
  const oldToken = await page.evaluate(() => localStorage.getItem('chatroom.token'));

  // Another device, logged in before the change.
  const other = await env.newContext();
  const otherPage = await other.newPage();
  await loginViaUI(otherPage, env.server, 'alice');

  await page.getByRole('button', { name: 'Change password' }).click();
  const dialog = page.locator('#password-dialog');
  await dialog.getByLabel('Current password').fill('not my password');
  await dialog.getByLabel('New password').fill(NEW_PASSWORD);
  await dialog.getByRole('button', { name: 'Change password' }).click();
  await dialog.locator('#password-error', { hasText: 'not your current password' }).waitFor();
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'change-password.png') });

  await dialog.getByLabel('New password').fill('short');
  await dialog.getByLabel('Current password').fill(PASSWORD);
  await dialog.getByRole('button', { name: 'Change password' }).click();
  await dialog.locator('#password-error', { hasText: 'at least 8' }).waitFor();

  await dialog.getByLabel('New password').fill(NEW_PASSWORD);
  await dialog.getByRole('button', { name: 'Change password' }).click();
  // The page reloads with a new token and says what happened.
  await page.locator('.toast', { hasText: 'Your password was changed' }).waitFor();
  await waitConnected(page);
  assert.equal(await page.locator('#me-name').textContent(), 'alice');
  const newToken = await page.evaluate(() => localStorage.getItem('chatroom.token'));
  assert.ok(newToken && newToken !== oldToken, 'a new token is saved');
  await assert.rejects(api(env.server, 'GET', '/api/users/me', { token: oldToken }), /401/);
  assert.equal((await api(env.server, 'GET', '/api/users/me', { token: newToken })).username, 'alice');

  // The other device's socket was closed and its token refused.
  await otherPage.locator('#auth-error', { hasText: 'session ended' }).waitFor();

  // The new password logs in; the old one no longer does.
  const fresh = await env.newContext();
  const freshPage = await fresh.newPage();
  await loginViaUI(freshPage, env.server, 'alice', NEW_PASSWORD);

  for (const c of [ctx, other, fresh]) {
    assert.deepEqual(c.foreign, []);
    assert.deepEqual(c.errors, []);
    await c.close();
  }
  await assert.rejects(
    api(env.server, 'POST', '/api/users/login', { body: { username: 'alice', password: PASSWORD } }), /401/,
  );
});
