// The server the Socket.IO tests talk to, and the REST calls they make to
// it. Starting and stopping the binary (clean environment, fresh data
// directory, free port, bounded waits) is shared with the browser tests.

import {
  PASSWORD, api, createAdmin, removeDir, sleep, startServer as start,
} from '../node-common/chatroom-server.mjs';

export { PASSWORD, api, sleep };

/** Bound of the before/after hooks (start and stop servers). */
export const HOOK = { timeout: 60000 };
/** Per-test bound for node:test. */
export const TEST = { timeout: 120000 };

/**
 * `chatroom serve` with `extraArgs` (the message rate limit is off unless
 * they set `--message-rate`); `stop()` also removes its data directory.
 */
export async function startServer({ extraArgs = [] } = {}) {
  const server = await start({ extraArgs });
  return {
    ...server,
    wsUrl: server.url.replace(/^http/, 'ws'),
    async stop() {
      await server.stop();
      await removeDir(server.dataDir);
    },
  };
}

let serial = 0;

/** Register a fresh user (`prefix` and a number): `{token, user}`. */
export function newUser(server, prefix = 'user') {
  serial += 1;
  return api(server, 'POST', '/api/users/register', { body: { username: `${prefix}${serial}`, password: PASSWORD } });
}

/** Log in: `{token, user}`. */
export const login = (server, username, password = PASSWORD) =>
  api(server, 'POST', '/api/users/login', { body: { username, password } });

/** An admin made with `chatroom create-admin` while the server runs, logged in: `{token, user}`. */
export async function newAdmin(server) {
  serial += 1;
  const username = `admin${serial}`;
  await createAdmin(server, username);
  return login(server, username);
}

/** Create a room with a fresh name: the room object. */
export function newRoom(server, token, { private: isPrivate = false } = {}) {
  serial += 1;
  return api(server, 'POST', '/api/rooms', { token, body: { name: `room ${serial}`, private: isPrivate } });
}

/** The usernames online in a room, sorted. */
export async function online(server, token, roomId) {
  const { users } = await api(server, 'GET', `/api/rooms/${roomId}/online`, { token });
  return [...users].sort();
}

/** Resolves once `fn()` resolves truthy; polls every 50 ms and fails after `timeout` naming `what`. */
export async function until(what, fn, timeout = 10000) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`${what}: still not so after ${timeout} ms`);
    await sleep(50);
  }
}
