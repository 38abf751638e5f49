// Logging in: every refusal the contract defines is explained in words, a
// token the server no longer accepts is dropped, and a closed server says
// that registration is closed.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  TEST_TIMEOUT_MS, newContext, registerUser, removeDir, serverAndBrowser, startServer, waitConnected,
} from './helpers.js';

const env = serverAndBrowser({ setup: () => registerUser(env.server, 'alice') });

async function authPage(srv = env.server) {
  const ctx = await newContext(env.browser, srv);
  const page = await ctx.newPage();
  await page.goto(srv.url + '/');
  const form = page.locator('#auth-form');
  await form.waitFor();
  const error = page.locator('#auth-error');
  /** Fill in the given fields, press `button` and wait until the form explains the refusal with `text`. */
  const expectRefusal = async (button, text, { username, password } = {}) => {
    if (username !== undefined) await form.getByLabel('Username').fill(username);
    if (password !== undefined) await form.getByLabel('Password').fill(password);
    await form.getByRole('button', { name: button }).click();
    await error.filter({ hasText: text }).waitFor();
  };
  return { ctx, page, form, error, expectRefusal };
}

test('wrong password, taken name and bad input are explained', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { ctx, expectRefusal } = await authPage();

  await expectRefusal('Log in', 'Wrong username or password', { username: 'alice', password: 'wrong password' });
  await expectRefusal('Create account', 'already taken', { password: 'another password' });
  await expectRefusal('Create account', '3 to 32 characters', { username: 'x' });
  await expectRefusal('Create account', 'at least 8', { username: 'newcomer', password: 'short' });

  assert.deepEqual(ctx.foreign, []);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('repeated failures are rate limited with a wait time', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { ctx, page, form, error } = await authPage();
  await form.getByLabel('Username').fill('alice');
  await form.getByLabel('Password').fill('not the password');
  const login = form.getByRole('button', { name: 'Log in' });
  // The contract throttles after 10 failures a minute; the button is
  // disabled while a request is in flight, so each click is one attempt.
  for (let i = 0; i < 12; i++) {
    await login.click();
    await page.waitForFunction(() => !document.getElementById('login-btn').disabled);
    if (/Too many attempts/.test(await error.textContent())) break;
  }
  assert.match(await error.textContent(), /Too many attempts\. Wait \d+ seconds?/);
  assert.deepEqual(ctx.foreign, []);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('a saved token the server rejects is dropped', { timeout: TEST_TIMEOUT_MS }, async () => {
  const ctx = await env.newContext();
  await ctx.addInitScript(() => {
    if (location.protocol === 'http:' && !sessionStorage.getItem('seeded')) {
      sessionStorage.setItem('seeded', '1');
      localStorage.setItem('chatroom.token', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJub2JvZHkifQ.forged');
    }
  });
  const page = await ctx.newPage();
  await page.goto(env.server.url + '/');
  await page.locator('#auth-error', { hasText: 'Your account was disabled or your session ended' }).waitFor();
  assert.equal(await page.evaluate(() => localStorage.getItem('chatroom.token')), null);
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('a valid saved token logs straight in', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { token } = await registerUser(env.server, 'returning');
  const ctx = await env.newContext();
  await ctx.addInitScript((t) => {
    if (location.protocol === 'http:' && !localStorage.getItem('chatroom.token')) localStorage.setItem('chatroom.token', t);
  }, token);
  const page = await ctx.newPage();
  await page.goto(env.server.url + '/');
  await waitConnected(page);
  assert.equal(await page.locator('#me-name').textContent(), 'returning');
  assert.deepEqual(ctx.errors, []);
  await ctx.close();
});

test('a closed server says registration is closed', { timeout: TEST_TIMEOUT_MS }, async () => {
  const closed = await startServer({ extraArgs: ['--registration', 'closed'] });
  try {
    const { ctx, expectRefusal } = await authPage(closed);
    await expectRefusal('Create account', 'Registration is closed', { username: 'someone', password: 'long enough password' });
    assert.deepEqual(ctx.foreign, []);
    assert.deepEqual(ctx.errors, []);
    await ctx.close();
  } finally {
    await closed.stop();
    await removeDir(closed.dataDir);
  }
});
