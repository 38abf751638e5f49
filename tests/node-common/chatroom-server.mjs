// The real `chatroom` binary under test, for the Node test suites (the
// browser tests and the Socket.IO tests): start `chatroom serve` from a
// clean environment on a free port with a fresh data directory, stop it,
// run `create-admin` against it, and call its REST API. Only Node's own
// modules, so each suite's package can import it. Every wait is bounded.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.CHATROOM_BIN
  ? path.resolve(process.env.CHATROOM_BIN)
  : path.resolve(here, '../../target/release/chatroom');

/** How long the binary may take to print its listening line. */
const START_TIMEOUT_MS = 20000;
/** How long SIGTERM may take before we SIGKILL. */
const STOP_TIMEOUT_MS = 10000;

export const PASSWORD = 'correct horse battery';

/**
 * The environment of every server a test starts: nothing of the caller's
 * (`CHATROOM_*`, `JWT_SECRET`, `PORT`, a `.env` in the working directory,
 * run in the data directory) can change a result. The
 * per-address registration limit is off (tests register many users from
 * one address) unless a test passes `--registration-rate`.
 */
export function cleanEnv() {
  return {
    PATH: process.env.PATH || '/usr/bin:/bin',
    RUST_LOG: 'warn',
    CHATROOM_REGISTRATION_RATE: '0',
    CHATROOM_ROOM_CREATE_RATE: '0',
    CHATROOM_ROOM_QUOTA: '0',
  };
}

export async function tempDataDir() {
  return fs.mkdtemp(path.join(os.tmpdir(), 'chatroom-test-'));
}

/**
 * Start `chatroom serve` and resolve once it printed
 * `chatroom listening on http://127.0.0.1:PORT`. The send rate limit is
 * off (unless `extraArgs` sets one) so tests can seed history quickly.
 */
export async function startServer({ dataDir, port = 0, extraArgs = [] } = {}) {
  const dir = dataDir || await tempDataDir();
  const rate = extraArgs.includes('--message-rate') ? [] : ['--message-rate', '0'];
  const args = ['serve', '--bind', `127.0.0.1:${port}`, '--data-dir', dir, ...rate, ...extraArgs];
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir, env: cleanEnv() });
  const stderr = [];
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk) => {
    stderr.push(chunk);
    if (stderr.length > 200) stderr.shift();
  });
  proc.stdout.setEncoding('utf8');

  const url = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => fail(new Error(`no listening line within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    function fail(err) {
      clearTimeout(timer);
      proc.kill('SIGKILL');
      err.message += ` (binary: ${BIN}; CHATROOM_BIN sets another)\nstderr:\n${stderr.join('')}`;
      reject(err);
    }
    proc.on('error', fail);
    proc.on('exit', (code, sig) => fail(new Error(`chatroom exited early (code ${code}, signal ${sig})`)));
    proc.stdout.on('data', (chunk) => {
      buf += chunk;
      const m = /chatroom listening on (http:\/\/[^\s]+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        proc.removeAllListeners('exit');
        resolve(m[1].replace(/\/$/, ''));
      }
    });
  });
  proc.stdout.resume();
  // Never leave a server behind, even when the test process dies.
  const reap = () => proc.kill('SIGKILL');
  process.once('exit', reap);
  proc.once('exit', () => process.removeListener('exit', reap));

  return {
    url,
    host: new URL(url).host,
    port: Number(new URL(url).port),
    dataDir: dir,
    extraArgs,
    proc,
    stderr: () => stderr.join(''),
    stop: () => stopProcess(proc),
  };
}

/** SIGTERM, wait (bounded) for the exit, SIGKILL if it hangs. */
export async function stopProcess(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
  const [code] = await exited;
  clearTimeout(timer);
  return code;
}

/** How long `chatroom create-admin` may take (it talks to the running server). */
const CLI_TIMEOUT_MS = 20000;

/**
 * Run `chatroom create-admin` against the server's data directory while the
 * server runs (it goes through the server's admin socket): creates the user
 * as an admin, or promotes an existing one and sets its password.
 */
export async function createAdmin(server, username, password = PASSWORD) {
  const proc = spawn(BIN, ['create-admin', '--username', username, '--password-stdin', '--data-dir', server.dataDir],
    { stdio: ['pipe', 'pipe', 'pipe'], cwd: server.dataDir, env: cleanEnv() });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (c) => { out += c; });
  proc.stderr.setEncoding('utf8').on('data', (c) => { err += c; });
  proc.stdin.end(`${password}\n`);
  const timer = setTimeout(() => proc.kill('SIGKILL'), CLI_TIMEOUT_MS);
  const [code, signal] = await once(proc, 'close');
  clearTimeout(timer);
  if (code !== 0) throw new Error(`create-admin exited with ${code ?? signal}: ${err.trim()}`);
  return out.trim();
}

export async function removeDir(dir) {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- REST -------------------------------------------------------------------

/** One REST call; a non-2xx answer is an error naming the status and the body. */
export async function api(server, method, pathname, { token, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(server.url + pathname, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(`${method} ${pathname} -> ${res.status} ${text}`);
  return data;
}
