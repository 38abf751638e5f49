// One system, two doors: a room's Socket.IO clients and `/ws` clients see
// the same messages, with the same payloads, in the same order; presence
// counts both kinds of connection; the acks carry the same data.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QUIET_MS, ack, connect, wsClient } from './clients.js';
import { TEST, api, newRoom, newUser, online } from './server.js';
import { fileServer } from './suite.js';

const server = fileServer();

test('a message sent over Socket.IO reaches /ws clients, and the reverse, with the same payload', TEST, async () => {
  const alice = await newUser(server, 'alice');
  const bob = await newUser(server, 'bob');
  const room = await newRoom(server, alice.token);
  const a = await wsClient(server, alice.token, { label: 'alice on /ws' });
  const b = await connect(server, { auth: { token: bob.token }, label: 'bob on socket.io' });
  const wsJoin = await a.request('joinRoom', { roomId: room.id });
  const sioJoin = await ack(b, 'joinRoom', { roomId: room.id });
  assert.deepEqual(Object.keys(sioJoin).sort(), Object.keys(wsJoin).sort(), 'the join acks carry the same fields');
  assert.deepEqual(sioJoin.room, { ...wsJoin.room, online: sioJoin.room.online }, 'the same room object');

  const sioAck = await ack(b, 'sendMessage', { roomId: room.id, message: 'from socket.io' });
  const atWs = await a.inbox.next('receiveMessage');
  assert.deepEqual(atWs, await b.inbox.next('receiveMessage'), 'the same message object on both doors');
  assert.equal(atWs.id, sioAck.id);
  assert.equal(atWs.user, bob.user.username);
  assert.equal(atWs.message, 'from socket.io');

  const wsAck = await a.request('sendMessage', { roomId: room.id, message: 'from /ws' });
  assert.deepEqual(Object.keys(sioAck).sort(), Object.keys(wsAck).sort(), 'the send acks carry the same fields');
  const atSio = await b.inbox.next('receiveMessage');
  assert.deepEqual(atSio, await a.inbox.next('receiveMessage'), 'the same message object on both doors');
  assert.equal(atSio.id, wsAck.id);
  assert.equal(atSio.user, alice.user.username);
  assert.equal(atSio.message, 'from /ws');
});

test('messages sent at once through both doors reach every client in one order, the history\'s', TEST, async () => {
  const alice = await newUser(server, 'alice');
  const bob = await newUser(server, 'bob');
  const carol = await newUser(server, 'carol');
  const room = await newRoom(server, alice.token);
  const wsSender = await wsClient(server, alice.token, { label: 'alice on /ws' });
  const sioSender = await connect(server, { auth: { token: bob.token }, transports: ['websocket'], label: 'bob on socket.io' });
  const readers = [
    wsSender,
    sioSender,
    await wsClient(server, carol.token, { label: 'carol on /ws' }),
    await connect(server, { auth: { token: carol.token }, label: 'carol on socket.io' }),
    await connect(server, { auth: { token: carol.token }, transports: ['polling'], label: 'carol polling' }),
  ];
  for (const r of readers) {
    if (r.request) await r.request('joinRoom', { roomId: room.id });
    else await ack(r, 'joinRoom', { roomId: room.id });
  }

  const N = 15;
  await Promise.all([
    (async () => {
      for (let i = 0; i < N; i++) await wsSender.request('sendMessage', { roomId: room.id, message: `ws ${i}` });
    })(),
    (async () => {
      for (let i = 0; i < N; i++) await ack(sioSender, 'sendMessage', { roomId: room.id, message: `sio ${i}` });
    })(),
  ]);

  const { messages } = await api(server, 'GET', `/api/rooms/${room.id}/messages?limit=200`, { token: alice.token });
  const order = messages.map((m) => m.message);
  assert.equal(order.length, 2 * N);
  for (const prefix of ['ws', 'sio']) {
    assert.deepEqual(order.filter((t) => t.startsWith(`${prefix} `)),
      Array.from({ length: N }, (_, i) => `${prefix} ${i}`), `each sender's messages in the order sent`);
  }
  for (const r of readers) {
    const got = await r.inbox.take('receiveMessage', 2 * N);
    assert.deepEqual(got.map((m) => m.message), order, `${r.inbox.label} sees the history's order`);
    assert.deepEqual(got, messages, `${r.inbox.label} gets the stored message objects`);
    assert.deepEqual(await r.inbox.quiet('receiveMessage', QUIET_MS), [], `${r.inbox.label}: no duplicate`);
  }
});

test('presence counts both kinds of connection', TEST, async () => {
  const alice = await newUser(server, 'alice');
  const bob = await newUser(server, 'bob');
  const room = await newRoom(server, alice.token);
  const watcher = await wsClient(server, bob.token, { label: 'bob on /ws' });
  await watcher.request('joinRoom', { roomId: room.id });

  // Alice joins through Socket.IO: the /ws client is told, and the acks list both.
  const aSio = await connect(server, { auth: { token: alice.token }, label: 'alice on socket.io' });
  const joined = await ack(aSio, 'joinRoom', { roomId: room.id });
  assert.deepEqual([...joined.users].sort(), [alice.user.username, bob.user.username].sort());
  assert.deepEqual(await watcher.inbox.next('userJoined'), { roomId: room.id, user: alice.user.username });
  assert.deepEqual(await online(server, bob.token, room.id), [alice.user.username, bob.user.username].sort());

  // Alice also joins through /ws; her Socket.IO connection goes: she is still in the room.
  const aWs = await wsClient(server, alice.token, { label: 'alice on /ws' });
  await aWs.request('joinRoom', { roomId: room.id });
  aSio.disconnect();
  assert.deepEqual(await watcher.inbox.quiet('userLeft', 1500), [], 'no userLeft while alice has a /ws connection in the room');
  assert.deepEqual(await online(server, bob.token, room.id), [alice.user.username, bob.user.username].sort());

  // And the reverse: back through Socket.IO, then her /ws connection closes.
  const again = await connect(server, { auth: { token: alice.token }, transports: ['polling'], label: 'alice polling' });
  await ack(again, 'joinRoom', { roomId: room.id });
  aWs.close();
  assert.deepEqual(await watcher.inbox.quiet('userLeft', 1500), [], 'no userLeft while alice has a Socket.IO connection in the room');

  // Her last connection goes: userLeft, over /ws, for a Socket.IO disconnect.
  again.disconnect();
  assert.deepEqual(await watcher.inbox.next('userLeft'), { roomId: room.id, user: alice.user.username });
  assert.deepEqual(await online(server, bob.token, room.id), [bob.user.username]);
});
