// Human wording for the contract's error codes. The server's own message is
// used when we have nothing better (it already says which field is wrong).

import { formatSize } from './file-kinds.js';

/** Shown on the log-in screen when the server stops accepting our token. */
export const SESSION_ENDED = 'Your account was disabled or your session ended. Please log in again.';

const TEXT = {
  username_taken: 'That username is already taken. Pick another one, or log in if it is yours.',
  invalid_credentials: 'Wrong username or password.',
  registration_closed: 'Registration is closed on this server. Ask an admin to create an account for you.',
  room_name_taken: 'A room with that name already exists. Choose another name.',
  forbidden: 'You are not allowed to do that.',
  not_found: 'Not found. It may have been removed, or you are not a member.',
  payload_too_large: 'That is too long.',
  not_joined: 'You are not in that room (yet). Try again in a moment.',
  unauthorized: SESSION_ENDED,
  network: 'Cannot reach the server. Check your connection and try again.',
  timeout: 'The server did not answer in time. Try again.',
  offline: 'Not connected to the server, so nothing was sent. Try again once reconnected.',
  // The request went out but the answer was lost with the connection.
  disconnected: 'The connection dropped before the server confirmed. If it does not show up after reconnecting, try again.',
  internal: 'The server could not store that. Try again.',
  busy: 'The server is busy. Wait a moment and try again.',
};

/** A sentence to show the user for an ApiError / SocketError / Error. */
export function describeError(err) {
  const code = err && err.code;
  if (code === 'rate_limited') {
    const secs = err.retryAfter;
    return secs ? `Too many attempts. Wait ${secs} second${secs === 1 ? '' : 's'} and try again.`
      : 'Slow down: you are sending too fast. Wait a moment and try again.';
  }
  if (code === 'validation_failed' || code === 'invalid_json') {
    return err.message ? `Please check your input: ${err.message}` : 'Please check your input.';
  }
  if (code === 'invalid_attachment') {
    // The server's message says which file and why (e.g. already attached).
    return `A file could not be attached${err.message ? ` (${err.message})` : ''}. Remove it and upload it again.`;
  }
  if (code && TEXT[code]) return TEXT[code];
  return (err && err.message) || 'Something went wrong.';
}

/**
 * Why an upload failed, in words rather than codes:
 * too large says the server's limit, a full quota what to do about it.
 */
export function describeUploadError(err) {
  const code = err && err.code;
  if (code === 'too_large') {
    const limit = Number((/(\d+) bytes/.exec((err && err.message) || '') || [])[1]);
    return limit ? `Too large: files can be at most ${formatSize(limit)} on this server.` : 'Too large for this server.';
  }
  if (code === 'quota_exceeded') {
    return 'Not uploaded: your files would use more space than this server allows you. Deleting messages with files frees space.';
  }
  if (code === 'rate_limited') {
    const secs = err.retryAfter;
    return secs ? `Too many uploads: wait ${secs} second${secs === 1 ? '' : 's'} and try again.`
      : 'Too many uploads: wait a moment and try again.';
  }
  if (code === 'network') return 'Not uploaded: the server cannot be reached. Files need the connection; try again once connected.';
  if (code === 'request_timeout' || code === 'timeout') return 'The upload was too slow and was stopped. Try again.';
  if (code === 'not_found') return 'Not uploaded: this room is gone or you are no longer in it.';
  return describeError(err);
}
