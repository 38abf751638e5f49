// Which rooms were active last. Room objects carry no last-message time,
// but message ids are unique server-wide and sort in the order the server
// accepted them, so a room's newest message id says how recent it is. The
// client knows it for rooms it loaded or heard live; for the others it asks
// for the newest message (one short request per room, at start-up only).

/** At most this many rooms are asked for their newest message. */
const ASK_AT_MOST = 60;

/** Newest message id seen per room id, from the requests below. */
const asked = new Map();

/** Compare two message ids (numbers or digit strings); null is oldest. */
export function compareIds(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  const x = String(a);
  const y = String(b);
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : 1;
}

/** The newest message id the client knows of in a room, or null. */
export function newestId(rs) {
  let best = asked.get(rs.room.id) ?? null;
  for (const id of [rs.lastId, rs.read && rs.read.lastReadId]) {
    if (compareIds(id, best) > 0) best = id;
  }
  return best;
}

/** Ask the server for the newest message of each of `rooms` not known yet. */
export async function learnNewest(api, rooms) {
  const unknown = rooms.filter((rs) => newestId(rs) === null).slice(0, ASK_AT_MOST);
  await Promise.all(unknown.map(async (rs) => {
    try {
      const page = await api.messages(rs.room.id, { limit: 1 });
      const last = page.messages[page.messages.length - 1];
      // 0: asked, and empty (older than any message, not asked again).
      asked.set(rs.room.id, last ? last.id : 0);
    } catch {
      // A room gone or refused meanwhile: it just counts as quiet.
    }
  }));
}

/** `rooms` most recently active first (rooms never heard of last, by name). */
export function byRecency(rooms) {
  return rooms.slice().sort((a, b) => compareIds(newestId(b), newestId(a)));
}
