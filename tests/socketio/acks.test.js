// Client events with an acknowledgement callback get what the `/ws` `ack`
// frame would carry (`{room, users}` for a join, `{id, timestamp}` for a
// message, `{}` for leave and typing), or `{error: {code, message}}` with
// the `/ws` error code. Without a callback, a failure arrives as an `error`
// event `{code, message}` on that socket. The rules are those of `/ws`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QUIET_MS, ack, connect } from './clients.js';
import { TEST, api, newRoom, newUser } from './server.js';
import { TIME, fileServer, withServer } from './suite.js';

const server = fileServer();

/** A user, a socket of theirs, and a public room they own. */
async function setup(prefix) {
  const user = await newUser(server, prefix);
  const socket = await connect(server, { auth: { token: user.token }, label: prefix });
  const room = await newRoom(server, user.token);
  return { user, socket, room };
}

function assertAckError(answer, code, what) {
  assert.equal(answer?.error?.code, code, `${what}: ${JSON.stringify(answer)}`);
  assert.equal(typeof answer.error.message, 'string', `${what}: a message`);
  assert.ok(answer.error.message.length > 0, `${what}: a message`);
}

/** What a failure sends when it is given an acknowledgement callback, and when it is not. */
const FAILURES = [
  ['joinRoom of an unknown room', 'joinRoom', () => ({ roomId: 'no-such-room' }), 'not_found'],
  ['joinRoom of a private room one is not a member of', 'joinRoom', (c) => ({ roomId: c.secret.id }), 'not_found'],
  ['joinRoom without roomId', 'joinRoom', () => ({}), 'validation_failed'],
  ['joinRoom since an id that is no message of the room', 'joinRoom', (c) => ({ roomId: c.room.id, since: 'nope' }), 'validation_failed'],
  ['sendMessage to a room not joined', 'sendMessage', (c) => ({ roomId: c.room.id, message: 'hi' }), 'not_joined'],
  ['sendMessage without roomId before any join', 'sendMessage', () => ({ message: 'hi' }), 'not_joined'],
  ['sendMessage to an unknown room', 'sendMessage', () => ({ roomId: 'no-such-room', message: 'hi' }), 'not_joined'],
  ['leaveRoom of a room not joined', 'leaveRoom', (c) => ({ roomId: c.room.id }), 'not_joined'],
  ['typing in a room not joined', 'typing', (c) => ({ roomId: c.room.id }), 'not_joined'],
];

/** A fresh user and socket, with a public room they have not joined and a private one of someone else. */
async function failureCase(prefix) {
  const { user, socket, room } = await setup(prefix);
  const owner = await newUser(server, 'owner');
  const secret = await newRoom(server, owner.token, { private: true });
  return { user, socket, room, secret };
}

test('joinRoom is acknowledged with {room, users}', TEST, async () => {
  const { user, socket, room } = await setup('joiner');
  const answer = await ack(socket, 'joinRoom', { roomId: room.id });
  assert.deepEqual(Object.keys(answer).sort(), ['room', 'users'], JSON.stringify(answer));
  assert.equal(answer.room.id, room.id);
  assert.equal(answer.room.name, room.name);
  for (const key of ['description', 'private', 'ownerId', 'createdAt', 'online']) {
    assert.ok(key in answer.room, `the room object has ${key}: ${JSON.stringify(answer.room)}`);
  }
  assert.deepEqual(answer.users, [user.user.username]);
});

test('sendMessage is acknowledged with {id, timestamp} of the stored message', TEST, async () => {
  const { user, socket, room } = await setup('sender');
  await ack(socket, 'joinRoom', { roomId: room.id });
  const answer = await ack(socket, 'sendMessage', { roomId: room.id, message: 'acked' });
  assert.deepEqual(Object.keys(answer).sort(), ['id', 'timestamp'], JSON.stringify(answer));
  assert.match(answer.timestamp, TIME);
  const got = await socket.inbox.next('receiveMessage');
  assert.equal(got.id, answer.id);
  assert.equal(got.timestamp, answer.timestamp);
  // Acknowledged means stored: the history holds it.
  const { messages } = await api(server, 'GET', `/api/rooms/${room.id}/messages`, { token: user.token });
  assert.deepEqual(messages.map((m) => m.id), [answer.id]);
});

test('leaveRoom and typing are acknowledged with {}', TEST, async () => {
  const { socket, room } = await setup('leaver');
  await ack(socket, 'joinRoom', { roomId: room.id });
  assert.deepEqual(await ack(socket, 'typing', { roomId: room.id }), {});
  assert.deepEqual(await ack(socket, 'leaveRoom', { roomId: room.id }), {});
  assertAckError(await ack(socket, 'sendMessage', { roomId: room.id, message: 'gone' }), 'not_joined', 'after leaving');
});

test('invalid messages are refused with validation_failed and not stored', TEST, async () => {
  const { user, socket, room } = await setup('validator');
  await ack(socket, 'joinRoom', { roomId: room.id });
  const bad = {
    'an empty message': '',
    'only whitespace': ' \n\t ',
    'over 4000 characters': 'x'.repeat(4001),
    'not a string': 42,
    'missing': undefined,
  };
  for (const [what, message] of Object.entries(bad)) {
    assertAckError(await ack(socket, 'sendMessage', { roomId: room.id, message }), 'validation_failed', what);
  }
  const max = await ack(socket, 'sendMessage', { roomId: room.id, message: '\u00e9'.repeat(4000) });
  assert.equal(typeof max.id, 'string', `4000 characters are accepted: ${JSON.stringify(max)}`);
  const { messages } = await api(server, 'GET', `/api/rooms/${room.id}/messages`, { token: user.token });
  assert.deepEqual(messages.map((m) => m.id), [max.id], 'only the valid message is stored');
});

for (const [what, event, data, code] of FAILURES) {
  test(`with a callback: ${what} is acknowledged {error: {code: ${code}}}, and no error event`, TEST, async () => {
    const c = await failureCase('acked');
    assertAckError(await ack(c.socket, event, data(c)), code, what);
    assert.deepEqual(await c.socket.inbox.quiet('error', QUIET_MS), [], 'the failure went to the callback only');
  });

  test(`without a callback: ${what} arrives as an error event {code: ${code}}`, TEST, async () => {
    const c = await failureCase('unacked');
    c.socket.emit(event, data(c));
    const err = await c.socket.inbox.next('error');
    assert.equal(err.code, code, `${what}: ${JSON.stringify(err)}`);
    assert.equal(typeof err.message, 'string', `${what}: a message`);
    assert.ok(c.socket.connected, 'the socket stays connected');
  });
}

test('the message rate limit holds: beyond the burst, rate_limited', TEST, async () => {
  await withServer(['--message-rate', '1', '--message-burst', '3'], async (limited) => {
    const user = await newUser(limited, 'chatty');
    const room = await newRoom(limited, user.token);
    const socket = await connect(limited, { auth: { token: user.token } });
    await ack(socket, 'joinRoom', { roomId: room.id });
    // Sent at once: the burst passes, the rest is refused until the bucket refills.
    const answers = await Promise.all([1, 2, 3, 4, 5].map((n) => ack(socket, 'sendMessage', { roomId: room.id, message: `m${n}` })));
    assert.ok(answers.slice(0, 3).every((a) => typeof a.id === 'string'), `the burst passes: ${JSON.stringify(answers)}`);
    const refused = answers.filter((a) => a.error);
    assert.ok(refused.length >= 1, `beyond the burst: ${JSON.stringify(answers)}`);
    for (const a of refused) assertAckError(a, 'rate_limited', 'beyond the burst');
  });
});
