// Entry point: restores the saved login, switches between the log-in screen
// and the chat, and wires the views to the session.

import { createApi, ApiError } from './api.js';
import { Directory, isDirect } from './directory.js';
import { byId, el, icon, ICONS } from './dom.js';
import { SESSION_ENDED, describeError } from './errors.js';
import { clearOutbox } from './outbox.js';
import { avatar } from './render.js';
import { ChatSession } from './session.js';
import { mountLocalNotifications } from './notify-local.js';
import { PushSubscriber } from './push.js';
import { byRecency, learnNewest } from './room-recency.js';
import { onOpenRoomRequest, takeRoomFromUrl } from './room-links.js';
import { registerShellCache } from './shell-cache.js';
import { reportVisibility } from './visibility-report.js';
import { mountAccount } from './views/account.js';
import { mountAdmin } from './views/admin.js';
import { mountAuth } from './views/auth.js';
import { mountCharLimits } from './views/char-limit.js';
import { mountChat } from './views/chat.js';
import { mountHeaderOverflow } from './views/header-overflow.js';
import { mountJumpCount } from './views/jump-count.js';
import { mountNotificationsSwitch } from './views/notifications-switch.js';
import { mountOfflinePresence } from './views/offline-presence.js';
import { mountOutbox, showOfflineQueue } from './views/outbox.js';
import { mountPeople } from './views/people.js';
import { mountQuickSwitcher } from './views/quick-switcher.js';
import { mountRoomBell } from './views/room-bell.js';
import { mountRoving } from './views/roving.js';
import { mountRoomSettings } from './views/room-settings.js';
import { mountSearchBox } from './views/search-box.js';
import { mountSidebar } from './views/sidebar.js';
import { mountSkipLink } from './views/skip-link.js';
import { mountTabAlert } from './views/tab-alert.js';

const TOKEN_KEY = 'chatroom.token';
const LAST_ROOM_KEY = 'chatroom.lastRoom';
const NOTICE_KEY = 'chatroom.notice';
/** While the server is unreachable at start-up, retry this often (ms). */
const BOOT_RETRY_MS = [1000, 2000, 4000, 8000];
const TOAST_MS = 6000;
/** Shown after the reload that follows a password change. */
const PASSWORD_CHANGED = 'Your password was changed. Other devices were logged out.';

let token = readStorage(localStorage, TOKEN_KEY);
let session = null;
let views = null;
/** Set once the page is on its way back to the log-in screen. */
let ending = false;
/**
 * Set while this page changes the password: the server then refuses the
 * old token and closes the socket with 1008, which is expected here and
 * must not end the session (the page logs in again with the new password).
 */
let changingPassword = false;
/** The room (and message) a clicked notification or a link asked for (`/?room=ID&message=MID`), opened once the rooms are known. */
let requestedRoom = takeRoomFromUrl();

const api = createApi({
  getToken: () => token,
  // Any 401: the token expired or the account was disabled (its sockets
  // are then closed with 1008, and the session checks the token).
  onUnauthorized: () => { if (!changingPassword) endSession(SESSION_ENDED); },
});

const auth = mountAuth({
  async onSubmit(mode, username, password) {
    const res = mode === 'register' ? await api.register(username, password) : await api.login(username, password);
    saveToken(res.token);
    await startSession(res.user);
  },
});

/** Storage can be unavailable (privacy settings); then nothing is remembered. */
function readStorage(store, key) {
  try {
    return store.getItem(key);
  } catch {
    return null;
  }
}

function saveToken(value) {
  token = value;
  try {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Private mode without storage: the session just won't survive a reload.
  }
}

function show(view) {
  byId('splash').hidden = view !== 'splash';
  byId('auth-view').hidden = view !== 'auth';
  byId('app-view').hidden = view !== 'app';
}

function addIcons() {
  for (const node of document.querySelectorAll('[data-icon]')) {
    const path = ICONS[node.dataset.icon];
    if (path) node.prepend(icon(path));
  }
}

function toast(text, kind = 'info') {
  const box = byId('toasts');
  const item = el('div', { className: `toast ${kind}`, text });
  box.append(item);
  setTimeout(() => item.remove(), TOAST_MS);
}

// ---- start-up -----------------------------------------------------------

async function boot() {
  addIcons();
  mountSkipLink();
  registerShellCache();
  if (!token) {
    show('auth');
    auth.notice(takeNotice());
    auth.focus();
    return;
  }
  // Validate the saved token before showing the chat; a 401 drops it.
  for (let attempt = 0; ; attempt++) {
    show('splash');
    try {
      const me = await api.me();
      // A notice kept across a reload with the token still valid (e.g.
      // after a password change) is shown once the chat is up.
      const notice = takeNotice();
      await startSession(me);
      if (notice) toast(notice);
      return;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return; // endSession ran
      // Server down or restarting: keep the token and try again.
      const wait = BOOT_RETRY_MS[Math.min(attempt, BOOT_RETRY_MS.length - 1)];
      const offline = err instanceof ApiError && err.status === 0;
      const why = offline ? 'Offline: cannot reach the server.' : describeError(err);
      byId('splash-text').textContent = `${why} Retrying in ${Math.round(wait / 1000)} s…`;
      // Messages queued before a reload still wait: show them.
      if (offline) showOfflineQueue();
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

function takeNotice() {
  const text = readStorage(sessionStorage, NOTICE_KEY) || '';
  try { sessionStorage.removeItem(NOTICE_KEY); } catch { /* ignore */ }
  return text;
}

// ---- the chat -----------------------------------------------------------

async function startSession(me) {
  // Views are built once per page: logging out reloads the page, so a
  // session never has to be swapped under them.
  session = new ChatSession({ api, token, me });
  byId('me-name').textContent = me.username;
  byId('me-avatar').replaceChildren(avatar(me.username));
  views = mountViews(session);

  session.addEventListener('connection', (e) => showConnection(e.detail));
  session.addEventListener('rooms', updateTitle);
  session.addEventListener('notice', (e) => toast(describeError(e.detail), 'error'));
  // A link or a notification to a message deleted since: the room opens at its newest messages.
  session.addEventListener('anchor-missing', () => toast('That message is no longer there'));
  session.addEventListener('room-dropped', (e) => {
    const { room, reason } = e.detail;
    if (reason !== 'left') toast(reason === 'deleted' ? `The room “${room.name}” was deleted.` : `You no longer have access to “${room.name}”.`);
    if (views.chat.roomId !== room.id) return;
    // The same rule as at start-up: the public room with the newest message.
    learnNewest(api, publicRooms()).then(() => { if (views.chat.roomId === room.id) openRoom(firstRoomId()); });
  });

  show('app');
  try {
    await session.start();
  } catch (err) {
    if (err.status === 401) return;
    toast(describeError(err), 'error');
  }
  const asked = requestedRoom && session.rooms.has(requestedRoom.roomId) ? requestedRoom.roomId : null;
  const askedMessage = asked ? requestedRoom.messageId : null;
  requestedRoom = null;
  const last = asked || readStorage(localStorage, LAST_ROOM_KEY);
  // Ranking by recency needs each room's newest message: asked only when it picks the room.
  if (!last || !session.rooms.has(last)) await learnNewest(api, publicRooms());
  // A room picked while the rooms were being ranked is the user's choice: keep it.
  if (!session.currentRoomId) openRoom(last || firstRoomId(), askedMessage);
}

function publicRooms() {
  return session.roomList().filter((rs) => !rs.room.private && !isDirect(rs.room));
}

/** Where to land without a last room: the public room with the newest message, else the first listed. */
function firstRoomId() {
  const first = byRecency(publicRooms())[0] || session.roomList()[0];
  return first ? first.room.id : null;
}

/** Show a room (falls back to the first room when it is gone), at message `messageId` when given. */
function openRoom(id, messageId = null) {
  if (id && !session.rooms.has(id)) [id, messageId] = [firstRoomId(), null];
  if (id) {
    session.select(id, messageId);
    try { localStorage.setItem(LAST_ROOM_KEY, id); } catch { /* ignore */ }
  } else {
    session.currentRoomId = null;
  }
  views.chat.show(id);
  views.outbox.show();
  if (id) views.people.show();
  views.sidebar.render();
  updateTitle();
}

function mountViews(s) {
  const directory = new Directory(s);
  const sidebar = mountSidebar({ session: s, directory, onSelect: openRoom });
  const chat = mountChat({ session: s });
  const people = mountPeople({ session: s, directory, getRoomId: () => chat.roomId });
  const outbox = mountOutbox({ session: s, getRoomId: () => chat.roomId, toBottom: () => chat.toBottom() });
  mountRoomSettings({ session: s, getRoomId: () => chat.roomId });
  mountAdmin({ session: s });
  mountAccount({ username: s.me.username, onChange: changePassword });
  mountQuickSwitcher({ session: s, onSelect: openRoom });
  // A search result opens its room at the message, as a clicked notification does.
  mountSearchBox({ session: s, directory, onOpen: openRoom });
  const subscriber = new PushSubscriber(s.api);
  // Whoever uses this browser next must not get this user's notifications.
  byId('logout-btn').addEventListener('click', () => subscriber.leave().then(() => endSession('')));
  // Nothing is missed: the counted pill, the tab's title and icon, stale presence, cut-off and over-long text.
  mountJumpCount({ session: s, getRoomId: () => chat.roomId });
  const tab = mountTabAlert({ session: s, getRoomId: () => chat.roomId });
  mountOfflinePresence({ session: s });
  // Notifications: this browser's push switch, each room's bell, and the hidden page's own.
  mountNotificationsSwitch({ subscriber });
  // The session's room: it changes before the 'rooms' event that the bell follows.
  mountRoomBell({ session: s, getRoomId: () => s.currentRoomId });
  mountLocalNotifications({ session: s, onOpen: openRoom });
  reportVisibility(s.socket);
  mountHeaderOverflow();
  // The account's buttons are one Tab stop, so the chat stays a few presses from the top.
  const account = document.querySelector('.me');
  mountRoving({
    container: account,
    items: () => [...account.querySelectorAll(':scope > button')].filter((b) => !b.hidden),
    home: () => null,
    keys: { back: 'ArrowLeft', forth: 'ArrowRight', wrap: true },
  });
  mountCharLimits();
  return { sidebar, chat, people, tab, outbox };
}

const CONNECTION_TEXT = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  closed: 'Offline',
};

function showConnection({ state, delayMs }) {
  const box = byId('conn-status');
  box.dataset.state = state;
  let text = CONNECTION_TEXT[state] || state;
  if (state === 'reconnecting' && delayMs >= 1500) text = `Reconnecting in ${Math.round(delayMs / 1000)} s…`;
  byId('conn-text').textContent = text;
}

/** The tab's title and icon: views/tab-alert.js. */
function updateTitle() {
  if (views) views.tab.update();
}

/**
 * Change the password, then log in again with it: the change ended every
 * session, this one included. The page reloads with the new token, so the
 * socket and every view start from a session the server accepts.
 */
async function changePassword(current, next) {
  changingPassword = true;
  try {
    await api.changePassword(current, next);
  } catch (err) {
    changingPassword = false;
    throw err;
  }
  // From here the old token is dead whatever happens next.
  try {
    const res = await api.login(session.me.username, next);
    saveToken(res.token);
    try { sessionStorage.setItem(NOTICE_KEY, PASSWORD_CHANGED); } catch { /* ignore */ }
    ending = true;
    if (session) session.stop();
    location.reload();
  } catch {
    changingPassword = false;
    endSession('Your password was changed. Please log in with the new one.');
  }
}

/**
 * Log out (message '') or drop a token the server no longer accepts.
 * A reload is the simplest way to leave no state of the old user behind;
 * the message survives it in sessionStorage.
 */
function endSession(message) {
  if (ending) return;
  ending = true;
  if (session) session.stop();
  session = null;
  saveToken(null);
  // Logging out: what waits unsent is dropped (another user may log in next;
  // an expired token keeps it for the same user's next login).
  if (!message) clearOutbox();
  try {
    if (message) sessionStorage.setItem(NOTICE_KEY, message);
  } catch { /* ignore */ }
  location.reload();
}

// A notification clicked while this tab is open: the service worker asks for the room.
onOpenRoomRequest((roomId, messageId) => { if (session && views) openRoom(roomId, messageId); });

// Coming back online: don't wait out the backoff.
window.addEventListener('online', () => { if (session) session.socket.retryNow(); });

// The room list follows the server's events; the user's own role has no
// event, so it is read again when the user returns to the tab (e.g. made an
// admin meanwhile), at most every ME_ON_FOCUS_MS.
const ME_ON_FOCUS_MS = 10000;
let meFetchedAt = 0;
function refreshMeOnReturn() {
  if (!session || document.hidden || Date.now() - meFetchedAt < ME_ON_FOCUS_MS) return;
  meFetchedAt = Date.now();
  session.refreshMe().catch(() => {});
}
window.addEventListener('focus', refreshMeOnReturn);
document.addEventListener('visibilitychange', refreshMeOnReturn);

boot();
