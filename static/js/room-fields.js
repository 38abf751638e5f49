// The server's rules for a room's name and description (POST /api/rooms,
// PATCH /api/rooms/{id}), checked before asking it so the usual mistakes are
// explained at once. The server still has the last word.

/** Limits in characters. */
export const ROOM_NAME_MAX_CHARS = 64;
export const ROOM_DESCRIPTION_MAX_CHARS = 512;

/**
 * Check a trimmed name and description: null when both are acceptable,
 * else `{text, field}` where field is 'name' or 'description'.
 */
export function roomFieldsProblem(name, description) {
  if (!name) return { text: 'Give the room a name.', field: 'name' };
  if ([...name].length > ROOM_NAME_MAX_CHARS) {
    return { text: `Room names are at most ${ROOM_NAME_MAX_CHARS} characters.`, field: 'name' };
  }
  if ([...description].length > ROOM_DESCRIPTION_MAX_CHARS) {
    return { text: `Descriptions are at most ${ROOM_DESCRIPTION_MAX_CHARS} characters.`, field: 'description' };
  }
  return null;
}
