// The Origin check of `/ws` holds on `/socket.io/`, on both transports: a
// page of a foreign origin is refused, the server's own origin and the
// origins allowed with `--allowed-origin` are not. And only the default
// namespace exists: another one gets `connect_error`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  connect, connectError, rawEngine, rawGet, sio, upgradeStatus,
} from './clients.js';
import { TEST, newUser } from './server.js';
import { fileServer } from './suite.js';

const ALLOWED = 'http://allowed.example';
const FOREIGN = ['http://evil.example', 'null', 'https://allowed.example', 'http://allowed.example:8080'];
const server = fileServer({ extraArgs: ['--allowed-origin', ALLOWED] });

const HANDSHAKE = '/socket.io/?EIO=4&transport=polling';
const WS_HANDSHAKE = '/socket.io/?EIO=4&transport=websocket';

const TRANSPORTS = {
  'polling then websocket': {},
  'polling only': { transports: ['polling'] },
  'websocket only': { transports: ['websocket'] },
};

test('a foreign Origin is refused on every transport, with a valid token', TEST, async () => {
  const user = await newUser(server, 'visitor');
  for (const [transport, opts] of Object.entries(TRANSPORTS)) {
    const control = await connect(server, { auth: { token: user.token }, ...opts });
    assert.ok(control.connected, `without the foreign Origin, ${transport} connects`);
  }
  for (const origin of FOREIGN) {
    for (const [transport, opts] of Object.entries(TRANSPORTS)) {
      const socket = sio(server, { auth: { token: user.token }, extraHeaders: { Origin: origin }, ...opts });
      await connectError(socket);
      assert.equal(socket.connected, false, `${origin}, ${transport}`);
    }
  }
});

test('a foreign Origin is answered 403 before any session, as on /ws', TEST, async () => {
  const user = await newUser(server, 'visitor');
  for (const origin of FOREIGN) {
    // The method is checked on /ws, which refuses already.
    assert.equal(await upgradeStatus(server, `/ws?token=${user.token}`, { Origin: origin }), 403, `/ws, ${origin}`);
    const polling = await rawGet(server, HANDSHAKE, { Origin: origin });
    assert.equal(polling.status, 403, `polling handshake, ${origin}: ${polling.body}`);
    assert.equal(await upgradeStatus(server, WS_HANDSHAKE, { Origin: origin }), 403, `websocket handshake, ${origin}`);
  }
});

test('the server\'s own origin, an allowed origin, and no Origin at all connect on every transport', TEST, async () => {
  const user = await newUser(server, 'visitor');
  const own = server.url;
  for (const headers of [{ Origin: own }, { Origin: own.replace('http://', 'https://') }, { Origin: ALLOWED }, {}]) {
    for (const [transport, opts] of Object.entries(TRANSPORTS)) {
      const socket = await connect(server, { auth: { token: user.token }, extraHeaders: headers, ...opts });
      assert.ok(socket.connected, `${JSON.stringify(headers)}, ${transport}`);
      socket.disconnect();
    }
    const polling = await rawGet(server, HANDSHAKE, headers);
    assert.equal(polling.status, 200, `polling handshake, ${JSON.stringify(headers)}: ${polling.body}`);
  }
});

test('a namespace other than / gets connect_error on every transport', TEST, async () => {
  const user = await newUser(server, 'lost');
  for (const [transport, opts] of Object.entries(TRANSPORTS)) {
    const control = await connect(server, { auth: { token: user.token }, ...opts });
    assert.ok(control.connected, `the default namespace, ${transport}, connects`);
  }
  for (const nsp of ['/nope', '/chat', '/admin']) {
    for (const [transport, opts] of Object.entries(TRANSPORTS)) {
      const socket = sio(server, { auth: { token: user.token }, ...opts }, nsp);
      await connectError(socket);
      assert.equal(socket.connected, false, `${nsp}, ${transport}`);
    }
  }
});

test('at the protocol level: CONNECT to another namespace is answered CONNECT_ERROR for it', TEST, async () => {
  const user = await newUser(server, 'lost');
  const engine = await rawEngine(server);
  const open = await engine.inbox.next('packet');
  assert.equal(open[0], '0', `the Engine.IO open packet first: ${open}`);
  engine.send(`40/nope,${JSON.stringify({ token: user.token })}`);
  const answer = await engine.inbox.next('packet', (p) => p !== '2');
  assert.ok(answer.startsWith('44/nope,'), `a CONNECT_ERROR packet of /nope: ${answer}`);
  // The default namespace still works on the same session.
  engine.send(`40${JSON.stringify({ token: user.token })}`);
  const connectedPacket = await engine.inbox.next('packet', (p) => p !== '2');
  assert.ok(connectedPacket.startsWith('40{'), `a CONNECT packet with the socket id: ${connectedPacket}`);
  assert.equal(typeof JSON.parse(connectedPacket.slice(2)).sid, 'string', connectedPacket);
});
