// The server's rule for a message's text, checked before sending so the
// usual mistake is explained at once (the composer and the editor share it),
// and how tall the boxes that hold a message grow.

/** The contract's message limit, in characters. */
export const MAX_MESSAGE_CHARS = 4000;
/** The composer (and the editor) grows up to this many lines, then scrolls. */
export const MAX_COMPOSER_ROWS = 8;

/** The sentence to show when `text` is over the limit, else null. */
export function messageTooLong(text) {
  return [...text].length > MAX_MESSAGE_CHARS ? `Messages are at most ${MAX_MESSAGE_CHARS} characters.` : null;
}
