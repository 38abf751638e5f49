// Human wording for the contract's error codes. The server's own message is
// used when we have nothing better (it already says which field is wrong).

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
  if (code && TEXT[code]) return TEXT[code];
  return (err && err.message) || 'Something went wrong.';
}
