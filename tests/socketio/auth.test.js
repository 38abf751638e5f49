// Who may connect to `/socket.io/`: a valid token in the connect packet's
// `auth` (as the original API's clients send it), in an
// `Authorization: Bearer` header, or in the query. Everyone else (no token,
// a bad, forged, expired or revoked token, a disabled user) gets a
// `connect_error` whose message is `unauthorized` with
// `data.code === 'unauthorized'`, and nothing else.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import {
  QUIET_MS, ack, connect, connectError, disconnected, rawEngine, sio,
} from './clients.js';
import {
  PASSWORD, TEST, api, login, newAdmin, newRoom, newUser, sleep,
} from './server.js';
import { fileServer, withServer } from './suite.js';

const server = fileServer();

/** The three places a client may put its token. */
const WAYS = {
  'auth: {token}': (token) => ({ auth: { token } }),
  'extraHeaders: {Authorization: Bearer}': (token) => ({ extraHeaders: { Authorization: `Bearer ${token}` } }),
  'query: {token}': (token) => ({ query: { token } }),
};

/** Both ways of connecting: long-polling upgraded to WebSocket, and WebSocket only. */
const TRANSPORTS = {
  'polling then websocket': {},
  'websocket only': { transports: ['websocket'] },
};

/** The connection is refused as the issue says, and nothing else arrives. */
async function assertUnauthorized(opts, what) {
  const socket = sio(server, { ...opts, label: what }, '');
  const err = await connectError(socket);
  assert.ok(err instanceof Error, `${what}: an Error`);
  assert.equal(err.message, 'unauthorized', `${what}: message`);
  assert.equal(err.data?.code, 'unauthorized', `${what}: data ${JSON.stringify(err.data)}`);
  await sleep(QUIET_MS);
  assert.equal(socket.connected, false, `${what}: not connected`);
  assert.deepEqual(socket.inbox.events, [], `${what}: no event`);
}

/** Connected as `user`: a message it sends is attributed to it. */
async function assertConnectedAs(opts, user, what) {
  const socket = await connect(server, { ...opts, label: what });
  const room = await newRoom(server, user.token);
  await ack(socket, 'joinRoom', { roomId: room.id });
  await ack(socket, 'sendMessage', { roomId: room.id, message: 'who am I' });
  const m = await socket.inbox.next('receiveMessage');
  assert.equal(m.user, user.user.username, `${what}: the message is the user's`);
  assert.equal(m.userId, user.user.id, what);
  return socket;
}

/** A token with the claims of `token` but signed with another key (or `alg: none`). */
function forged(token, { alg = 'HS256' } = {}) {
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
  if (alg === 'none') return `${unsigned}.`;
  return `${unsigned}.${crypto.createHmac('sha256', crypto.randomBytes(32)).update(unsigned).digest('base64url')}`;
}

for (const [way, withToken] of Object.entries(WAYS)) {
  for (const [transport, transportOpts] of Object.entries(TRANSPORTS)) {
    test(`a valid token in ${way}, ${transport}: connected as its user`, TEST, async () => {
      const user = await newUser(server, 'valid');
      await assertConnectedAs({ ...withToken(user.token), ...transportOpts }, user, `${way}, ${transport}`);
    });
  }
}

for (const [transport, transportOpts] of Object.entries(TRANSPORTS)) {
  test(`no token at all, ${transport}: unauthorized`, TEST, async () => {
    await assertUnauthorized(transportOpts, `no token, ${transport}`);
    await assertUnauthorized({ auth: {}, ...transportOpts }, `empty auth, ${transport}`);
    await assertUnauthorized({ auth: { token: '' }, ...transportOpts }, `empty token, ${transport}`);
  });

  test(`bad and forged tokens in every place, ${transport}: unauthorized`, TEST, async () => {
    const user = await newUser(server, 'forged');
    const bad = {
      'not a token': 'not-a-token',
      'signed with another key': forged(user.token),
      'alg none': forged(user.token, { alg: 'none' }),
      'truncated signature': user.token.slice(0, -4),
    };
    for (const [way, withToken] of Object.entries(WAYS)) {
      for (const [kind, token] of Object.entries(bad)) {
        await assertUnauthorized({ ...withToken(token), ...transportOpts }, `${kind} in ${way}, ${transport}`);
      }
    }
  });
}

test('at the protocol level: a bad token gets one CONNECT_ERROR packet and no event', TEST, async () => {
  const engine = await rawEngine(server);
  const open = await engine.inbox.next('packet');
  assert.equal(open[0], '0', `the Engine.IO open packet first: ${open}`);
  engine.send('40{"token":"not-a-token"}');
  const answer = await engine.inbox.next('packet', (p) => p !== '2');
  assert.ok(answer.startsWith('44'), `a CONNECT_ERROR packet: ${answer}`);
  const data = JSON.parse(answer.slice(2));
  assert.equal(data.message, 'unauthorized', answer);
  assert.equal(data.data?.code, 'unauthorized', answer);
  await sleep(QUIET_MS);
  const more = engine.inbox.events.filter((e) => e.event === 'packet' && e.data.startsWith('4'));
  assert.deepEqual(more, [], 'no other Socket.IO packet');
});

test('an expired token: unauthorized', TEST, async () => {
  await withServer(['--token-ttl', '1'], async (shortLived) => {
    const user = await newUser(shortLived, 'ephemeral');
    await sleep(2100);
    for (const [transport, transportOpts] of Object.entries(TRANSPORTS)) {
      const socket = sio(shortLived, { auth: { token: user.token }, ...transportOpts });
      const err = await connectError(socket);
      assert.equal(err.message, 'unauthorized', `expired, ${transport}`);
      assert.equal(err.data?.code, 'unauthorized', `expired, ${transport}`);
    }
  });
});

test('a password change revokes older tokens: open sockets are disconnected, new ones refused', TEST, async () => {
  const user = await newUser(server, 'changer');
  const open = await assertConnectedAs({ auth: { token: user.token } }, user, 'before the change');
  const gone = disconnected(open);
  await api(server, 'POST', '/api/users/me/password', {
    token: user.token, body: { currentPassword: PASSWORD, newPassword: 'a brand new passphrase' },
  });
  await gone;
  for (const [transport, transportOpts] of Object.entries(TRANSPORTS)) {
    await assertUnauthorized({ auth: { token: user.token }, ...transportOpts }, `revoked token, ${transport}`);
  }
  const again = await login(server, user.user.username, 'a brand new passphrase');
  await assertConnectedAs({ auth: { token: again.token } }, again, 'a token issued after the change');
});

test('a disabled user: open sockets are disconnected, new ones refused; enabled again, the token works', TEST, async () => {
  const admin = await newAdmin(server);
  const user = await newUser(server, 'disabled');
  const open = await assertConnectedAs({ transports: ['websocket'], auth: { token: user.token } }, user, 'before');
  const gone = disconnected(open);
  await api(server, 'POST', `/api/admin/users/${user.user.id}/disable`, { token: admin.token });
  await gone;
  for (const [transport, transportOpts] of Object.entries(TRANSPORTS)) {
    await assertUnauthorized({ auth: { token: user.token }, ...transportOpts }, `disabled user, ${transport}`);
  }
  await api(server, 'POST', `/api/admin/users/${user.user.id}/enable`, { token: admin.token });
  await assertConnectedAs({ auth: { token: user.token } }, user, 'enabled again');
});
