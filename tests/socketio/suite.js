// What every test file of this suite does around its tests.

import { after, afterEach, before } from 'node:test';
import { closeAll } from './clients.js';
import { HOOK, startServer } from './server.js';

/**
 * The file's server: started before its first test (with `extraArgs`),
 * stopped after its last. The object returned becomes the server once the
 * `before` hook ran. After each test, every client it opened is closed.
 */
export function fileServer({ extraArgs = [] } = {}) {
  const server = {};
  before(async () => {
    Object.assign(server, await startServer({ extraArgs }));
  }, HOOK);
  after(async () => {
    if (server.stop) await server.stop();
  }, HOOK);
  afterEach(closeAll);
  return server;
}

/** An RFC 3339 UTC time with milliseconds, as the contract writes them. */
export const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Run `fn(server)` against a server of its own started with `extraArgs`, stopped after. */
export async function withServer(extraArgs, fn) {
  const server = await startServer({ extraArgs });
  try {
    return await fn(server);
  } finally {
    closeAll();
    await server.stop();
  }
}
