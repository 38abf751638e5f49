// The server's password rules (registration, a change, an admin's reset),
// checked before asking it so the usual mistakes are explained at once.

/** Limits in bytes of UTF-8, as the server counts them. */
export const PASSWORD_MIN_BYTES = 8;
export const PASSWORD_MAX_BYTES = 1024;

/** What is wrong with `password` as a new password, or null when it is acceptable. */
export function passwordProblem(password) {
  const bytes = new TextEncoder().encode(password).length;
  if (bytes < PASSWORD_MIN_BYTES) return `Passwords need at least ${PASSWORD_MIN_BYTES} characters.`;
  if (bytes > PASSWORD_MAX_BYTES) return `Passwords are at most ${PASSWORD_MAX_BYTES} bytes.`;
  return null;
}
