// A client written for the original Node Chatroom API works unchanged
// against `chatroom serve`: register over REST, `io(url, {auth: {token}})`,
// `joinRoom`, `sendMessage`, and the other client gets `receiveMessage`.
// Over each transport: long-polling upgraded to WebSocket (the client's
// default), WebSocket only, and long-polling only.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { io } from 'socket.io-client';
import { ack, connect, connected, rawGet, recorded, transportBecomes } from './clients.js';
import { TEST, newRoom, newUser, online, until } from './server.js';
import { TIME, fileServer } from './suite.js';

const server = fileServer();

/** The message object of the contract, with the original's three fields. */
function assertMessage(m, { user, roomId, message }) {
  assert.equal(m.user, user.username, 'user (the original field)');
  assert.equal(m.message, message, 'message (the original field)');
  assert.match(m.timestamp, TIME, 'timestamp (the original field)');
  assert.equal(typeof m.id, 'string', 'id');
  assert.equal(m.roomId, roomId, 'roomId');
  assert.equal(m.userId, user.id, 'userId');
}

test('the original client, unchanged: REST register, io(url, {auth: {token}}), joinRoom, sendMessage, receiveMessage', TEST, async () => {
  const alice = await newUser(server, 'alice');
  const bob = await newUser(server, 'bob');
  const room = await newRoom(server, bob.token);

  // Exactly the original's calls: no options but the token, no callbacks.
  const a = recorded(io(server.url, { auth: { token: alice.token } }), 'alice');
  const b = recorded(io(server.url, { auth: { token: bob.token } }), 'bob');
  assert.equal(a.io.engine.transport.name, 'polling', 'the client starts with long-polling');
  await Promise.all([connected(a), connected(b)]);
  assert.equal(typeof a.id, 'string', 'the socket has an id');

  a.emit('joinRoom', { roomId: room.id });
  b.emit('joinRoom', { roomId: room.id });
  // Nothing is acknowledged, so wait until the server counts both in the room.
  await until('both users online in the room', async () =>
    (await online(server, bob.token, room.id)).length === 2);

  b.emit('sendMessage', { message: 'hello from the original client' });
  const got = await a.inbox.next('receiveMessage');
  assertMessage(got, { user: bob.user, roomId: room.id, message: 'hello from the original client' });
  assert.deepEqual(await b.inbox.next('receiveMessage'), got, 'the sender gets its own message too, the same');

  // The default client upgrades to WebSocket, and the chat goes on over it.
  await Promise.all([transportBecomes(a, 'websocket'), transportBecomes(b, 'websocket')]);
  a.emit('sendMessage', { message: 'and after the upgrade' });
  assertMessage(await b.inbox.next('receiveMessage'), { user: alice.user, roomId: room.id, message: 'and after the upgrade' });
  assertMessage(await a.inbox.next('receiveMessage'), { user: alice.user, roomId: room.id, message: 'and after the upgrade' });
});

for (const transports of [['websocket'], ['polling']]) {
  test(`transports: ${JSON.stringify(transports)}: join, send, receive`, TEST, async () => {
    const alice = await newUser(server, 'alice');
    const bob = await newUser(server, 'bob');
    const room = await newRoom(server, alice.token);
    const a = await connect(server, { auth: { token: alice.token }, transports, label: 'alice' });
    const b = await connect(server, { auth: { token: bob.token }, transports, label: 'bob' });
    assert.equal(a.io.engine.transport.name, transports[0]);

    await ack(a, 'joinRoom', { roomId: room.id });
    await ack(b, 'joinRoom', { roomId: room.id });
    const texts = ['one', 'two', 'three'];
    for (const message of texts) await ack(a, 'sendMessage', { roomId: room.id, message });
    const got = await b.inbox.take('receiveMessage', texts.length);
    assert.deepEqual(got.map((m) => m.message), texts, 'in order');
    for (const [i, m] of got.entries()) assertMessage(m, { user: alice.user, roomId: room.id, message: texts[i] });
    assert.deepEqual(await a.inbox.take('receiveMessage', texts.length), got, 'the sender gets its own, the same');

    b.emit('sendMessage', { roomId: room.id, message: 'back' });
    assertMessage(await a.inbox.next('receiveMessage'), { user: bob.user, roomId: room.id, message: 'back' });
    assert.equal(a.io.engine.transport.name, transports[0], 'the transport did not change');
  });
}

test('the Engine.IO handshake: a session id, the websocket upgrade, ping every 25 s with a 20 s timeout', TEST, async () => {
  const { status, body } = await rawGet(server, '/socket.io/?EIO=4&transport=polling');
  assert.equal(status, 200, body);
  assert.equal(body[0], '0', `an open packet: ${body}`);
  const open = JSON.parse(body.slice(1));
  assert.equal(typeof open.sid, 'string', body);
  assert.ok(open.sid.length > 0, body);
  assert.deepEqual(open.upgrades, ['websocket'], body);
  assert.equal(open.pingInterval, 25000, body);
  assert.equal(open.pingTimeout, 20000, body);
});

test('sendMessage without roomId goes to the room joined last, as in the original', TEST, async () => {
  const alice = await newUser(server, 'alice');
  const bob = await newUser(server, 'bob');
  const first = await newRoom(server, alice.token);
  const second = await newRoom(server, alice.token);
  const a = await connect(server, { auth: { token: alice.token }, label: 'alice' });
  const b = await connect(server, { auth: { token: bob.token }, label: 'bob' });
  await ack(b, 'joinRoom', { roomId: second.id });
  await ack(a, 'joinRoom', { roomId: first.id });
  await ack(a, 'joinRoom', { roomId: second.id });

  const sent = await ack(a, 'sendMessage', { message: 'to the current room' });
  assert.equal(typeof sent.id, 'string', JSON.stringify(sent));
  const got = await b.inbox.next('receiveMessage');
  assertMessage(got, { user: alice.user, roomId: second.id, message: 'to the current room' });
  assert.equal(got.id, sent.id);
});
