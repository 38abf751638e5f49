// The real-time side of the original Node "Chatroom API" (Express +
// Socket.io), kept in memory: the baseline the load generator measures
// chatroom's Socket.IO endpoint against, on the same machine in the same
// run. It does what the original does on each event and nothing more, so
// its figures are the stack's (Node, Socket.IO 4, its WebSocket), not
// those of a database:
//
// - a connection is accepted with any token (`auth.token`, an
//   `Authorization: Bearer` header or `?token=`); the user's name is the
//   one the token was issued for by the REST stub below, or the token;
// - `joinRoom {roomId}` joins the Socket.IO room and makes it the socket's
//   current room;
// - `sendMessage {message, roomId?}` emits `receiveMessage` to everyone in
//   the room (the current one without `roomId`), with the fields chatroom
//   sends (`id`, `roomId`, `user`, `userId`, `message`, `timestamp`);
// - `leaveRoom`, `typing` and acknowledgement callbacks as chatroom has
//   them, so one client drives both servers.
//
// A small REST stub (`POST /api/users/register`, `/api/users/login`,
// `GET`/`POST /api/rooms`, `GET /healthz`) hands out tokens and room ids
// the way chatroom's REST API does, so the load generator's setup works
// unchanged. Nothing is stored on disk.
//
//   node server.js [--bind HOST:PORT]      (default 127.0.0.1:0, a free port)
//
// prints `listening on http://HOST:PORT` once it accepts connections.

import crypto from 'node:crypto';
import http from 'node:http';
import { Server } from 'socket.io';

function bindAddress() {
  const i = process.argv.indexOf('--bind');
  const bind = i >= 0 ? process.argv[i + 1] : (process.env.PORT ? `0.0.0.0:${process.env.PORT}` : '127.0.0.1:0');
  const m = /^(.*):(\d+)$/.exec(bind || '');
  if (!m) {
    console.error(`bad --bind ${bind}: expected HOST:PORT`);
    process.exit(2);
  }
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

// ---- the REST stub -----------------------------------------------------------

/** token -> user; users by lower-cased name; rooms by id. */
const tokens = new Map();
const users = new Map();
const rooms = new Map();
let ids = 0;
const nextId = () => (++ids).toString(16).padStart(16, '0');

function userFor(username) {
  const key = String(username).toLowerCase();
  if (!users.has(key)) {
    users.set(key, { id: nextId(), username: String(username), role: 'user', createdAt: new Date().toISOString() });
  }
  return users.get(key);
}

function issue(username) {
  const user = userFor(username);
  const token = crypto.randomBytes(24).toString('base64url');
  tokens.set(token, user);
  return { token, user };
}

function send(res, status, body) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req) {
  let raw = '';
  for await (const chunk of req) {
    raw += chunk;
    if (raw.length > 65536) throw new Error('body too large');
  }
  return raw ? JSON.parse(raw) : {};
}

async function rest(req, res) {
  const url = new URL(req.url, 'http://localhost');
  try {
    if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, { status: 'ok' });
    if (req.method === 'POST' && (url.pathname === '/api/users/register' || url.pathname === '/api/users/login')) {
      const { username } = await readJson(req);
      if (typeof username !== 'string' || !username) return send(res, 400, { error: { code: 'validation_failed', message: 'username' } });
      return send(res, url.pathname.endsWith('register') ? 201 : 200, issue(username));
    }
    if (url.pathname === '/api/rooms' && req.method === 'GET') return send(res, 200, [...rooms.values()]);
    if (url.pathname === '/api/rooms' && req.method === 'POST') {
      const { name, description = '', private: isPrivate = false } = await readJson(req);
      const owner = tokens.get((req.headers.authorization || '').replace(/^Bearer /, ''));
      const room = {
        id: nextId(), name: String(name), description, private: Boolean(isPrivate),
        ownerId: owner ? owner.id : null, createdAt: new Date().toISOString(), online: 0,
      };
      rooms.set(room.id, room);
      return send(res, 201, room);
    }
    return send(res, 404, { error: { code: 'not_found', message: 'not found' } });
  } catch (err) {
    return send(res, 400, { error: { code: 'invalid_json', message: String(err.message) } });
  }
}

// ---- Socket.IO: the original's events ------------------------------------------

const server = http.createServer((req, res) => {
  rest(req, res);
});
const io = new Server(server);

/** The token, wherever the client put it. */
function tokenOf(handshake) {
  const bearer = /^Bearer (.+)$/.exec(handshake.headers.authorization || '');
  return handshake.auth?.token || (bearer && bearer[1]) || handshake.query?.token;
}

io.use((socket, next) => {
  const token = tokenOf(socket.handshake);
  if (!token) {
    const err = new Error('unauthorized');
    err.data = { code: 'unauthorized' };
    return next(err);
  }
  socket.data.user = tokens.get(token) || userFor(String(token).slice(0, 32));
  return next();
});

/** The room's users' names (the join's ack). */
function usersIn(roomId) {
  const names = new Set();
  for (const id of io.sockets.adapter.rooms.get(roomId) || []) {
    const s = io.sockets.sockets.get(id);
    if (s) names.add(s.data.user.username);
  }
  return [...names];
}

/** Answer through the callback when there is one, else as an `error` event. */
function fail(socket, ack, code, message) {
  if (typeof ack === 'function') ack({ error: { code, message } });
  else socket.emit('error', { code, message });
}

io.on('connection', (socket) => {
  const { user } = socket.data;

  socket.on('joinRoom', (data, ack) => {
    const roomId = data?.roomId;
    if (typeof roomId !== 'string') return fail(socket, ack, 'validation_failed', 'roomId');
    socket.join(roomId);
    socket.data.room = roomId;
    socket.to(roomId).emit('userJoined', { roomId, user: user.username });
    if (typeof ack === 'function') ack({ room: rooms.get(roomId) || { id: roomId }, users: usersIn(roomId) });
  });

  socket.on('leaveRoom', (data, ack) => {
    const roomId = data?.roomId;
    if (!socket.rooms.has(roomId)) return fail(socket, ack, 'not_joined', 'not in that room');
    socket.leave(roomId);
    socket.to(roomId).emit('userLeft', { roomId, user: user.username });
    if (typeof ack === 'function') ack({});
  });

  socket.on('sendMessage', (data, ack) => {
    const roomId = data?.roomId ?? socket.data.room;
    if (!roomId || !socket.rooms.has(roomId)) return fail(socket, ack, 'not_joined', 'join the room first');
    if (typeof data.message !== 'string' || !data.message.trim()) return fail(socket, ack, 'validation_failed', 'message');
    const message = {
      id: nextId(), roomId, user: user.username, userId: user.id, message: data.message, timestamp: new Date().toISOString(),
    };
    io.to(roomId).emit('receiveMessage', message);
    if (typeof ack === 'function') ack({ id: message.id, timestamp: message.timestamp });
  });

  socket.on('disconnecting', () => {
    for (const roomId of socket.rooms) {
      if (roomId !== socket.id) socket.to(roomId).emit('userLeft', { roomId, user: user.username });
    }
  });

  socket.on('typing', (data, ack) => {
    const roomId = data?.roomId ?? socket.data.room;
    if (!roomId || !socket.rooms.has(roomId)) return fail(socket, ack, 'not_joined', 'join the room first');
    socket.to(roomId).emit('typing', { roomId, user: user.username });
    if (typeof ack === 'function') ack({});
  });
});

const { host, port } = bindAddress();
server.listen(port, host, () => {
  const addr = server.address();
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  console.log(`listening on http://${shown}:${addr.port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    io.close();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
