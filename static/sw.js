// The service worker: lets the page open while the server is unreachable,
// and shows the notifications the server sends through the browser's push
// service (Web Push), also when no tab of the app is open. It keeps the app shell (the client's own files) of one build in one
// cache, and never touches anything else: API answers, the socket and
// tokens go straight to the network and are never stored.
//
// The server fills in BUILD and FILES when it serves this script, so every
// new build is a new script: the browser installs it, it fills a new cache
// and deletes the old ones. Files are still fetched from the network first
// (the server answers "no-cache" so a page never runs a stale client
// against a newer server); the cache answers only when the network fails.

const BUILD = '__CHATROOM_BUILD__';
const FILES = ["__CHATROOM_FILES__"];
const PREFIX = 'chatroom-shell-';
const CACHE = PREFIX + BUILD;
/** The page itself is cached under this path; '/' is served from it. */
const PAGE = '/index.html';
const SHELL = new Set(FILES.map((f) => '/' + f));

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // Revalidate, so the cache holds this build's files and not older copies.
    await cache.addAll([...SHELL].map((url) => new Request(url, { cache: 'no-cache' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  const key = url.pathname === '/' ? PAGE : url.pathname;
  // Anything but the shell (the API, the socket, health checks): untouched.
  if (!SHELL.has(key)) return;
  event.respondWith(networkFirst(req, key));
});

async function networkFirst(req, key) {
  try {
    const res = await fetch(req);
    if (res.status === 200 && res.type === 'basic') {
      const copy = res.clone();
      caches.open(CACHE).then((cache) => cache.put(key, copy)).catch(() => {});
    }
    return res;
  } catch {
    const hit = await caches.match(key);
    return hit || offline();
  }
}

/** Nothing cached yet (the very first visit was cut short): a plain page, not the browser's error. */
function offline() {
  return new Response('<!doctype html><meta charset="utf-8"><title>Chatroom · offline</title>' +
    '<p>Offline: the chat server cannot be reached. Reload to try again.</p>',
  { status: 503, headers: { 'Content-Type': 'text/html; charset=utf-8' } });
}

// ---- notifications --------------------------------------------------------
// A push is the server's `{roomId, roomName, messageId, user, text}`; the
// notification is tagged by room, so a newer one replaces the older one of
// the same room instead of piling up. Each notification counts the messages
// it stands for, and the app's badge (where the system has one) shows their
// sum: the unread messages the notifications told about, known without
// asking the server.

const ICON = '/icons/icon-192.png';
/** The body of a message that carries only files. */
const FILES_ONLY = 'sent a file';

self.addEventListener('push', (event) => {
  let payload = {};
  try {
    payload = event.data ? event.data.json() : {};
  } catch {
    // Not JSON: still shown (the browser requires one per push), as a bare notice.
  }
  event.waitUntil(showPush(payload || {}));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(self.openRoomFromNotification(event.notification.data || {}));
});

self.addEventListener('notificationclose', (event) => {
  event.waitUntil(updateBadge());
});

// The page put away the notifications of a room it shows (notify-local.js): the badge follows.
self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'notificationsClosed') event.waitUntil(updateBadge());
});

/** Show the notification of one push (named on `self` so that tests can show one without a push service). */
self.showPushNotification = showPush;

async function showPush(p) {
  const roomId = typeof p.roomId === 'string' ? p.roomId : '';
  const user = typeof p.user === 'string' ? p.user : '';
  const roomName = typeof p.roomName === 'string' ? p.roomName : '';
  // A direct room's name is its people: the sender's name says it better.
  const direct = p.direct === true || p.kind === 'direct' || !roomName;
  const title = direct ? (user || 'Chatroom') : `#${roomName} — ${user}`;
  const body = typeof p.text === 'string' && p.text ? p.text : FILES_ONLY;
  const tag = 'room-' + roomId;
  const earlier = await self.registration.getNotifications({ tag });
  const count = earlier.reduce((n, old) => n + ((old.data && old.data.count) || 1), 0) + 1;
  await self.registration.showNotification(title, {
    body,
    tag,
    renotify: true,
    icon: ICON,
    badge: ICON,
    data: { roomId, messageId: p.messageId || '', count },
  });
  await updateBadge();
}

/** The app's badge: how many messages the open notifications stand for. */
async function updateBadge() {
  if (!self.navigator || !('setAppBadge' in self.navigator)) return;
  const shown = await self.registration.getNotifications();
  const total = shown.reduce((n, x) => n + ((x.data && x.data.count) || 1), 0);
  try {
    if (total > 0) await self.navigator.setAppBadge(total);
    else await self.navigator.clearAppBadge();
  } catch {
    // Not allowed here (e.g. not installed): the notifications still say it.
  }
}

/**
 * Bring a tab of the app to the room of a clicked notification: an open
 * tab is told to open it (and focused), else a new one opens on it. Named
 * on `self` so that tests can run what a click runs.
 */
self.openRoomFromNotification = async function openRoomFromNotification(data) {
  const roomId = data && typeof data.roomId === 'string' ? data.roomId : '';
  // The room opens at the message the notification is about.
  const messageId = roomId && typeof data.messageId === 'string' ? data.messageId : '';
  const tabs = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const ours = tabs.filter((c) => new URL(c.url).origin === self.location.origin);
  const tab = ours.find((c) => c.focused) || ours.find((c) => c.visibilityState === 'visible') || ours[0];
  if (tab) {
    if (roomId) tab.postMessage({ type: 'openRoom', roomId, messageId });
    // Focusing needs the click's permission; a call without one is refused, harmlessly.
    await tab.focus().catch(() => {});
  } else {
    const message = messageId ? '&message=' + encodeURIComponent(messageId) : '';
    await self.clients.openWindow(roomId ? '/?room=' + encodeURIComponent(roomId) + message : '/');
  }
  await updateBadge();
};
