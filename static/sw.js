// The service worker: lets the page open while the server is unreachable.
// It keeps the app shell (the client's own files) of one build in one
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
