// Server events on the Socket.IO door have the names and payloads of `/ws`
// (`userJoined`, `userLeft`, `typing`, `messageEdited`, `messageDeleted`,
// `roomRemoved`, `roomDeleted`): each is compared with what a `/ws` client
// gets for the same change, made through the client events or the REST
// calls that trigger it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QUIET_MS, ack, connect, wsClient } from './clients.js';
import { TEST, api, newRoom, newUser, sleep } from './server.js';
import { fileServer } from './suite.js';

const server = fileServer();

/** The next `event` at a Socket.IO client and at a /ws client: the same data, which is returned. */
async function sameOnBothDoors(sioClient, wsObserver, event) {
  const [viaSio, viaWs] = await Promise.all([sioClient.inbox.next(event), wsObserver.inbox.next(event)]);
  assert.deepEqual(viaSio, viaWs, `${event}: the same payload as on /ws`);
  return viaSio;
}

/** Alice (owner, on /ws) and Carol (on Socket.IO) in a fresh room; Bob on Socket.IO, not in it yet. */
async function threeInARoom() {
  const alice = await newUser(server, 'alice');
  const bob = await newUser(server, 'bob');
  const carol = await newUser(server, 'carol');
  const room = await newRoom(server, alice.token);
  const aWs = await wsClient(server, alice.token, { label: 'alice on /ws' });
  const b = await connect(server, { auth: { token: bob.token }, label: 'bob on socket.io' });
  const c = await connect(server, { auth: { token: carol.token }, transports: ['websocket'], label: 'carol on socket.io' });
  await aWs.request('joinRoom', { roomId: room.id });
  await ack(c, 'joinRoom', { roomId: room.id });
  await aWs.inbox.next('userJoined');
  return { alice, bob, carol, room, aWs, b, c };
}

test('userJoined, typing and userLeft', TEST, async () => {
  const { alice, bob, room, aWs, b, c } = await threeInARoom();

  await ack(b, 'joinRoom', { roomId: room.id });
  assert.deepEqual(await sameOnBothDoors(c, aWs, 'userJoined'), { roomId: room.id, user: bob.user.username });

  assert.deepEqual(await ack(b, 'typing', { roomId: room.id }), {});
  assert.deepEqual(await sameOnBothDoors(c, aWs, 'typing'), { roomId: room.id, user: bob.user.username });
  assert.deepEqual(await b.inbox.quiet('typing'), [], 'one\'s own typing is not echoed');

  // Typing from /ws reaches Socket.IO clients the same way.
  await aWs.request('typing', { roomId: room.id });
  const fromWs = await Promise.all([b.inbox.next('typing'), c.inbox.next('typing')]);
  for (const t of fromWs) assert.deepEqual(t, { roomId: room.id, user: alice.user.username });

  // `typing` without roomId: the room joined last (at most once a second per user and room).
  await sleep(1100);
  assert.deepEqual(await ack(b, 'typing', {}), {});
  assert.deepEqual(await sameOnBothDoors(c, aWs, 'typing'), { roomId: room.id, user: bob.user.username });

  assert.deepEqual(await ack(b, 'leaveRoom', { roomId: room.id }), {});
  assert.deepEqual(await sameOnBothDoors(c, aWs, 'userLeft'), { roomId: room.id, user: bob.user.username });

  // A Socket.IO disconnect is a leave too.
  await ack(b, 'joinRoom', { roomId: room.id });
  assert.deepEqual(await sameOnBothDoors(c, aWs, 'userJoined'), { roomId: room.id, user: bob.user.username });
  b.disconnect();
  assert.deepEqual(await sameOnBothDoors(c, aWs, 'userLeft'), { roomId: room.id, user: bob.user.username });
});

test('messageEdited and messageDeleted, after the REST edit and delete', TEST, async () => {
  const { carol, room, aWs, c } = await threeInARoom();
  const sent = await ack(c, 'sendMessage', { roomId: room.id, message: 'a mesage with a typo' });
  const original = await sameOnBothDoors(c, aWs, 'receiveMessage');
  assert.equal(original.id, sent.id);

  const base = `/api/rooms/${room.id}/messages/${sent.id}`;
  const edited = await api(server, 'PATCH', base, { token: carol.token, body: { message: 'a message, fixed' } });
  const event = await sameOnBothDoors(c, aWs, 'messageEdited');
  assert.deepEqual(event, edited, 'the whole message, as the edit answered it');
  assert.equal(event.id, sent.id);
  assert.equal(event.message, 'a message, fixed');
  assert.equal(event.timestamp, original.timestamp, 'its time does not change');
  assert.equal(typeof event.editedAt, 'string', 'editedAt is set');

  await api(server, 'DELETE', base, { token: carol.token });
  assert.deepEqual(await sameOnBothDoors(c, aWs, 'messageDeleted'), { roomId: room.id, id: sent.id });
});

test('roomRemoved: a member removed from a private room hears nothing more of it', TEST, async () => {
  const alice = await newUser(server, 'alice');
  const carol = await newUser(server, 'carol');
  const secret = await newRoom(server, alice.token, { private: true });
  await api(server, 'POST', `/api/rooms/${secret.id}/members`, { token: alice.token, body: { username: carol.user.username } });
  const aWs = await wsClient(server, alice.token, { label: 'alice on /ws' });
  const cWs = await wsClient(server, carol.token, { label: 'carol on /ws' });
  const c = await connect(server, { auth: { token: carol.token }, label: 'carol on socket.io' });
  await aWs.request('joinRoom', { roomId: secret.id });
  await cWs.request('joinRoom', { roomId: secret.id });
  await ack(c, 'joinRoom', { roomId: secret.id });

  await api(server, 'DELETE', `/api/rooms/${secret.id}/members/${carol.user.username}`, { token: alice.token });
  assert.deepEqual(await sameOnBothDoors(c, cWs, 'roomRemoved'), { roomId: secret.id });

  await aWs.request('sendMessage', { roomId: secret.id, message: 'after carol left' });
  await aWs.inbox.next('receiveMessage');
  assert.deepEqual(await c.inbox.quiet('receiveMessage', QUIET_MS), [], 'no message of the room any more');
  const send = await ack(c, 'sendMessage', { roomId: secret.id, message: 'still here?' });
  assert.equal(send.error?.code, 'not_joined', JSON.stringify(send));
  const join = await ack(c, 'joinRoom', { roomId: secret.id });
  assert.equal(join.error?.code, 'not_found', JSON.stringify(join));
});

test('roomDeleted: every connection in the room is told and unsubscribed', TEST, async () => {
  const { alice, room, aWs, b, c } = await threeInARoom();
  await ack(b, 'joinRoom', { roomId: room.id });
  await api(server, 'DELETE', `/api/rooms/${room.id}`, { token: alice.token });
  assert.deepEqual(await sameOnBothDoors(c, aWs, 'roomDeleted'), { roomId: room.id });
  assert.deepEqual(await b.inbox.next('roomDeleted'), { roomId: room.id });

  for (const s of [b, c]) {
    const send = await ack(s, 'sendMessage', { roomId: room.id, message: 'anyone?' });
    assert.equal(send.error?.code, 'not_joined', JSON.stringify(send));
    const typing = await ack(s, 'typing', { roomId: room.id });
    assert.equal(typing.error?.code, 'not_joined', JSON.stringify(typing));
    const join = await ack(s, 'joinRoom', { roomId: room.id });
    assert.equal(join.error?.code, 'not_found', JSON.stringify(join));
  }
});

test('presence: a page says whether it is shown (acked like typing; a non-boolean is refused)', TEST, async () => {
  const { c } = await threeInARoom();
  assert.deepEqual(await ack(c, 'presence', { visible: false }), {});
  assert.deepEqual(await ack(c, 'presence', { visible: true }), {});
  const bad = await ack(c, 'presence', { visible: 'yes' });
  assert.equal(bad.error?.code, 'validation_failed', JSON.stringify(bad));
});
