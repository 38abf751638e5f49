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
  return { ctx, page, form, error: page.locator('#auth-error') };
}

test('wrong password, taken name and bad input are explained', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { ctx, form, error } = await authPage();

  await form.getByLabel('Username').fill('alice');
  await form.getByLabel('Password').fill('wrong password');
  await form.getByRole('button', { name: 'Log in' }).click();
  await error.filter({ hasText: 'Wrong username or password' }).waitFor();

  await form.getByLabel('Password').fill('another password');
  await form.getByRole('button', { name: 'Create account' }).click();
  await error.filter({ hasText: 'already taken' }).waitFor();

  await form.getByLabel('Username').fill('x');
  await form.getByRole('button', { name: 'Create account' }).click();
  await error.filter({ hasText: '3 to 32 characters' }).waitFor();

  await form.getByLabel('Username').fill('newcomer');
  await form.getByLabel('Password').fill('short');
  await form.getByRole('button', { name: 'Create account' }).click();
  await error.filter({ hasText: 'at least 8' }).waitFor();

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
    const { ctx, form, error } = await authPage(closed);
    await form.getByLabel('Username').fill('someone');
    await form.getByLabel('Password').fill('long enough password');
    await form.getByRole('button', { name: 'Create account' }).click();
    await error.filter({ hasText: 'Registration is closed' }).waitFor();
    assert.deepEqual(ctx.foreign, []);
    assert.deepEqual(ctx.errors, []);
    await ctx.close();
  } finally {
    await closed.stop();
    await removeDir(closed.dataDir);
  }
});
