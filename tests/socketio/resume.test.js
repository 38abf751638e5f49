// Resume with `since`: a client that lost its connection reconnects (the
// Socket.IO client does it by itself), joins again with `since` = the last
// message it has, and ends up with the room's whole history, in order,
// with no gap and no duplicate, while messages keep coming meanwhile.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { io } from 'socket.io-client';
import {
  QUIET_MS, ack, connected, disconnected, recorded, wsClient,
} from './clients.js';
import { TEST, api, newRoom, newUser, sleep, until } from './server.js';
import { fileServer } from './suite.js';

const server = fileServer();

/** Every message of the room, oldest first. */
async function history(token, roomId) {
  const { messages, hasMore } = await api(server, 'GET', `/api/rooms/${roomId}/messages?limit=200`, { token });
  assert.equal(hasMore, false, 'the test keeps rooms under one page');
  return messages;
}

/**
 * A reader as a real client writes it: it keeps what it received, and on
 * every (re)connection joins the room again with `since` = the last message
 * it has. The Socket.IO client reconnects by itself.
 */
function resumingReader(token, roomId, transports) {
  const socket = recorded(io(server.url, {
    forceNew: true, auth: { token }, transports, reconnectionDelay: 100, reconnectionDelayMax: 500,
  }), `reader ${transports}`);
  const have = [];
  const joins = [];
  socket.on('receiveMessage', (m) => have.push(m));
  socket.on('connect', () => {
    const since = have.length ? have[have.length - 1].id : undefined;
    joins.push(ack(socket, 'joinRoom', since ? { roomId, since } : { roomId }));
  });
  return { socket, have, joins };
}

for (const transports of [['polling', 'websocket'], ['websocket']]) {
  test(`transports ${JSON.stringify(transports)}: resume with since after a disconnect, no gap, no duplicate`, TEST, async () => {
    const alice = await newUser(server, 'alice');
    const bob = await newUser(server, 'bob');
    const room = await newRoom(server, alice.token);
    const sender = await wsClient(server, alice.token, { label: 'sender on /ws' });
    await sender.request('joinRoom', { roomId: room.id });
    const reader = resumingReader(bob.token, room.id, transports);
    await connected(reader.socket);
    await until('the first join acknowledged', async () => reader.joins.length === 1);
    await reader.joins[0];

    for (let i = 0; i < 5; i++) await sender.request('sendMessage', { roomId: room.id, message: `before ${i}` });
    await until('the reader has the first messages', async () => reader.have.length === 5);

    // Messages keep coming while the reader's connection drops and comes back, twice.
    let sending = true;
    const sent = (async () => {
      // At least 40, at most 150: the history stays within one page.
      for (let i = 0; i < 150 && (sending || i < 40); i++) {
        await sender.request('sendMessage', { roomId: room.id, message: `during ${i}` });
        await sleep(20);
      }
    })();
    for (let drop = 1; drop <= 2; drop++) {
      await sleep(150);
      const gone = disconnected(reader.socket);
      reader.socket.io.engine.close();
      await gone;
      await connected(reader.socket);
      await until(`join ${drop + 1} sent`, async () => reader.joins.length === drop + 1);
      const again = await reader.joins[drop];
      assert.equal(again.error, undefined, `the join with since is acknowledged: ${JSON.stringify(again)}`);
    }
    sending = false;
    await sent;
    for (let i = 0; i < 5; i++) await sender.request('sendMessage', { roomId: room.id, message: `after ${i}` });

    const all = await history(alice.token, room.id);
    // Wait (bounded) for the last one; a gap or a duplicate shows in the comparison below.
    const lastId = all[all.length - 1].id;
    await until('the reader has the last message', async () => reader.have.some((m) => m.id === lastId)).catch(() => {});
    await sleep(QUIET_MS);
    assert.deepEqual(reader.have.map((m) => m.id), all.map((m) => m.id), 'every message once, in order');
    assert.deepEqual(reader.have, all, 'the stored message objects');
  });
}

test('since = the newest message sends no history, only what comes next', TEST, async () => {
  const alice = await newUser(server, 'alice');
  const room = await newRoom(server, alice.token);
  const sender = await wsClient(server, alice.token, { label: 'sender on /ws' });
  await sender.request('joinRoom', { roomId: room.id });
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await sender.request('sendMessage', { roomId: room.id, message: `old ${i}` })).id);

  const reader = recorded(io(server.url, { forceNew: true, reconnection: false, auth: { token: alice.token } }), 'reader');
  await connected(reader);
  const joined = await ack(reader, 'joinRoom', { roomId: room.id, since: ids[2] });
  assert.equal(joined.error, undefined, JSON.stringify(joined));
  assert.deepEqual(await reader.inbox.quiet('receiveMessage'), [], 'nothing before or at since');
  const next = await sender.request('sendMessage', { roomId: room.id, message: 'new' });
  const got = await reader.inbox.next('receiveMessage');
  assert.equal(got.id, next.id);

  // And since = the first: exactly the two after it, then nothing more.
  const other = recorded(io(server.url, { forceNew: true, reconnection: false, auth: { token: alice.token } }), 'other');
  await connected(other);
  await ack(other, 'joinRoom', { roomId: room.id, since: ids[0] });
  const caught = await other.inbox.take('receiveMessage', 3);
  assert.deepEqual(caught.map((m) => m.id), [ids[1], ids[2], next.id]);
  assert.deepEqual(await other.inbox.quiet('receiveMessage'), []);
});
