// REST client for the chatroom API (see PROTOCOL.md). Every failure becomes
// an ApiError carrying the contract's error code, so views can explain it.

/** A request is abandoned after this long so the UI never hangs on it. */
const REQUEST_TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/**
 * `getToken` returns the current JWT (or null); `onUnauthorized` is called
 * when an authenticated request gets 401, i.e. the token stopped working.
 */
export function createApi({ getToken, onUnauthorized }) {
  /** `signal` (optional) abandons the request: it then rejects with code 'aborted'. */
  async function request(method, path, body, { auth = true, signal = null } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const token = auth ? getToken() : null;
    if (token) headers.Authorization = `Bearer ${token}`;

    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    const giveUp = () => controller.abort();
    if (signal) signal.addEventListener('abort', giveUp, { once: true });
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
        cache: 'no-store',
      });
    } catch (err) {
      if (signal && signal.aborted) throw new ApiError(0, 'aborted', 'Cancelled.');
      const timedOut = err && err.name === 'AbortError';
      throw new ApiError(0, timedOut ? 'timeout' : 'network', timedOut ? 'The server took too long to answer.' : 'Cannot reach the server.');
    } finally {
      clearTimeout(timer);
      if (signal) signal.removeEventListener('abort', giveUp);
    }

    if (res.status === 204) return null;
    const data = await res.json().catch(() => null);
    if (res.ok) return data;

    const err = data && data.error ? data.error : {};
    const retry = Number.parseInt(res.headers.get('Retry-After') || '', 10);
    const apiErr = new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText,
      Number.isFinite(retry) ? retry : null);
    if (res.status === 401 && auth && token) onUnauthorized(apiErr);
    throw apiErr;
  }

  const enc = encodeURIComponent;
  return {
    register: (username, password) => request('POST', '/api/users/register', { username, password }, { auth: false }),
    login: (username, password) => request('POST', '/api/users/login', { username, password }, { auth: false }),
    me: () => request('GET', '/api/users/me'),
    // An addition to the contract: ends every session, this one included.
    changePassword: (currentPassword, newPassword) =>
      request('POST', '/api/users/me/password', { currentPassword, newPassword }),
    rooms: () => request('GET', '/api/rooms'),
    createRoom: (room) => request('POST', '/api/rooms', room),
    messages: (roomId, { before, after, around, limit } = {}) => {
      const q = new URLSearchParams();
      if (before) q.set('before', before);
      if (after) q.set('after', after);
      // An addition to the contract: the page centred on one message.
      if (around) q.set('around', around);
      if (limit) q.set('limit', String(limit));
      const qs = q.toString();
      return request('GET', `/api/rooms/${enc(roomId)}/messages${qs ? `?${qs}` : ''}`);
    },
    addMember: (roomId, username) => request('POST', `/api/rooms/${enc(roomId)}/members`, { username }),
    removeMember: (roomId, username) => request('DELETE', `/api/rooms/${enc(roomId)}/members/${enc(username)}`),
    // Additions to the contract (docs/protocol-additions.md).
    deleteRoom: (roomId) => request('DELETE', `/api/rooms/${enc(roomId)}`),
    updateRoom: (roomId, changes) => request('PATCH', `/api/rooms/${enc(roomId)}`, changes),
    editMessage: (roomId, id, message) =>
      request('PATCH', `/api/rooms/${enc(roomId)}/messages/${enc(id)}`, { message }),
    deleteMessage: (roomId, id) => request('DELETE', `/api/rooms/${enc(roomId)}/messages/${enc(id)}`),
    // Add (on) or take back the caller's reaction.
    react: (roomId, id, emoji, on) =>
      request(on ? 'PUT' : 'DELETE', `/api/rooms/${enc(roomId)}/messages/${enc(id)}/reactions/${enc(emoji)}`),
    users: () => request('GET', '/api/admin/users'),
    createUser: (user) => request('POST', '/api/admin/users', user),
    setUserDisabled: (userId, disabled) =>
      request('POST', `/api/admin/users/${enc(userId)}/${disabled ? 'disable' : 'enable'}`),
    // The user directory (pickers, @-mentions), direct rooms, member lists,
    // and admins managing accounts.
    searchUsers: (prefix, limit) =>
      request('GET', `/api/users?${new URLSearchParams({ q: prefix, limit: String(limit) })}`),
    startDirect: (usernames) => request('POST', '/api/dms', { usernames }),
    members: (roomId) => request('GET', `/api/rooms/${enc(roomId)}/members`),
    setUserRole: (userId, role) => request('POST', `/api/admin/users/${enc(userId)}/role`, { role }),
    resetPassword: (userId, password) => request('POST', `/api/admin/users/${enc(userId)}/password`, { password }),
    // Files (docs/protocol-additions.md): links that work without the token, for <img> and downloads.
    fileLinks: (ids) => request('POST', '/api/files/links', { ids }),
    /** Upload `file` to a room: {promise (the file's record), abort()}; see uploadFile. */
    uploadFile: (roomId, file, name, onProgress) =>
      uploadFile(`/api/rooms/${enc(roomId)}/files`, file, name, { getToken, onUnauthorized, onProgress }),
    // Web Push (docs/protocol-additions.md): the server's key, this browser's subscription, a room's level.
    pushKey: () => request('GET', '/api/push/key'),
    addPushSubscription: (subscription) => request('POST', '/api/push/subscriptions', subscription),
    removePushSubscription: (endpoint) => request('DELETE', '/api/push/subscriptions', { endpoint }),
    setNotifications: (roomId, level) => request('PUT', `/api/rooms/${enc(roomId)}/notifications`, { level }),
    // Full-text search (docs/protocol-additions.md): `signal` drops a search the user typed past.
    search: ({ q, roomId, before, limit }, { signal } = {}) => {
      const params = new URLSearchParams({ q });
      if (roomId) params.set('roomId', roomId);
      if (before) params.set('before', before);
      if (limit) params.set('limit', String(limit));
      return request('GET', `/api/search?${params}`, undefined, { signal });
    },
  };
}

/**
 * Send a file's bytes as the raw body (its name percent-encoded in
 * X-Filename) with XMLHttpRequest, which, unlike fetch, reports how much of
 * the body went out. `onProgress(sent, total)`. Resolves with the server's
 * answer; rejects with an ApiError ('aborted' after abort()).
 */
function uploadFile(path, file, name, { getToken, onUnauthorized, onProgress }) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', path);
    xhr.responseType = 'json';
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.setRequestHeader('X-Filename', encodeURIComponent(name));
    const token = getToken();
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.upload.addEventListener('progress', (ev) => onProgress(ev.loaded, ev.lengthComputable ? ev.total : file.size));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'Upload cancelled.')));
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', 'Cannot reach the server.')));
    xhr.addEventListener('load', () => {
      const data = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300 && data) {
        resolve(data);
        return;
      }
      const err = data && data.error ? data.error : {};
      const retry = Number.parseInt(xhr.getResponseHeader('Retry-After') || '', 10);
      const apiErr = new ApiError(xhr.status, err.code || `http_${xhr.status}`, err.message || xhr.statusText,
        Number.isFinite(retry) ? retry : null);
      if (xhr.status === 401 && token) onUnauthorized(apiErr);
      reject(apiErr);
    });
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}
