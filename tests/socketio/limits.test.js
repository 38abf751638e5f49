// The bounds of `/ws` hold on `/socket.io/`: Socket.IO connections (a
// long-polling session too) count toward the per-user and the global
// connection caps together with `/ws` connections, and a packet over the
// 64 KiB payload limit closes its connection while the server stays up.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ack, connect, connectError, connected, disconnected, sio, upgradeStatus, wsClient,
} from './clients.js';
import { TEST, newRoom, newUser, until } from './server.js';
import { fileServer, withServer } from './suite.js';

const server = fileServer();

/** Resolves once a Socket.IO client of `token` connects again (a freed slot may take a moment). */
async function connectsAgain(s, token) {
  await until('a connection is accepted again', async () => {
    const socket = sio(s, { auth: { token } });
    try {
      await connected(socket, 2000);
      return true;
    } catch {
      socket.disconnect();
      return false;
    }
  });
}

test('a user\'s Socket.IO and /ws connections count together toward --max-user-connections', TEST, async () => {
  await withServer(['--max-user-connections', '2'], async (s) => {
    const user = await newUser(s, 'busy');
    const other = await newUser(s, 'calm');
    const viaWs = await wsClient(s, user.token, { label: 'busy on /ws' });
    const polling = await connect(s, { auth: { token: user.token }, transports: ['polling'], label: 'busy polling' });
    assert.ok(viaWs && polling.connected);

    // At the cap: a third connection through either door is refused.
    await connectError(sio(s, { auth: { token: user.token } }));
    await connectError(sio(s, { auth: { token: user.token }, transports: ['websocket'] }));
    assert.equal(await upgradeStatus(s, `/ws?token=${user.token}`), 429, 'the /ws upgrade counts the Socket.IO session');
    // Another user is not affected.
    await connect(s, { auth: { token: other.token } });

    // The long-polling session ends: its place is free again.
    polling.disconnect();
    await connectsAgain(s, user.token);
  });
});

test('Socket.IO connections count toward --max-connections', TEST, async () => {
  await withServer(['--max-connections', '2'], async (s) => {
    const [a, b, c] = [await newUser(s, 'anna'), await newUser(s, 'bert'), await newUser(s, 'cleo')];
    await wsClient(s, a.token, { label: 'a on /ws' });
    const second = await connect(s, { auth: { token: b.token }, transports: ['websocket'] });
    await connectError(sio(s, { auth: { token: c.token } }));
    assert.equal(await upgradeStatus(s, `/ws?token=${c.token}`), 429, 'the /ws upgrade counts the Socket.IO connection');
    second.disconnect();
    await connectsAgain(s, c.token);
  });
});

for (const transports of [['websocket'], ['polling']]) {
  test(`transports ${JSON.stringify(transports)}: a packet over 64 KiB closes the connection, the server stays up`, TEST, async () => {
    const user = await newUser(server, 'big');
    const room = await newRoom(server, user.token);
    const socket = await connect(server, { auth: { token: user.token }, transports });
    await ack(socket, 'joinRoom', { roomId: room.id });
    const gone = disconnected(socket);
    socket.emit('sendMessage', { roomId: room.id, message: 'x'.repeat(70 * 1024) });
    await gone;
    const again = await connect(server, { auth: { token: user.token }, transports });
    await ack(again, 'joinRoom', { roomId: room.id });
    const sent = await ack(again, 'sendMessage', { roomId: room.id, message: 'still fine' });
    assert.equal(typeof sent.id, 'string', JSON.stringify(sent));
  });
}
