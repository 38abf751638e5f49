// Signed links to files (POST /api/files/links): an <img> or a download
// link cannot send the account's token, and the token never goes into a
// URL. A link works for an hour; links are asked for in batches (all the
// files of the rows built in one go), kept, and asked again when less than
// REFRESH_BEFORE_MS of their hour is left.

/** The server gives links for at most this many files per request. */
const BATCH = 100;
/** A link with less than this left is asked for again before use. */
const REFRESH_BEFORE_MS = 5 * 60 * 1000;
/** How long a link lasts when its expiry cannot be read from it. */
const ASSUMED_LIFETIME_MS = 50 * 60 * 1000;

/** When a signed link stops working (ms since the epoch), from its `exp` (Unix seconds). */
function expiryOf(url, now) {
  try {
    const exp = Number(new URL(url, location.origin).searchParams.get('exp'));
    return exp > 0 ? exp * 1000 : now + ASSUMED_LIFETIME_MS;
  } catch {
    return now + ASSUMED_LIFETIME_MS;
  }
}

export class FileLinks {
  constructor(api) {
    this.api = api;
    /** id -> {url, thumbnailUrl?, expires} */
    this.cache = new Map();
    /** id -> resolve functions waiting for the next batch. */
    this.waiting = new Map();
    this.scheduled = false;
  }

  /** A cached link of `id` that still has time left, else null. */
  fresh(id) {
    const link = this.cache.get(id);
    return link && link.expires - Date.now() > REFRESH_BEFORE_MS ? link : null;
  }

  /** The signed {url, thumbnailUrl?} of a file, or null when the caller cannot see it (or the request failed). */
  get(id, { force = false } = {}) {
    const link = force ? null : this.fresh(id);
    if (link) return Promise.resolve(link);
    return new Promise((resolve) => {
      const list = this.waiting.get(id) || [];
      list.push(resolve);
      this.waiting.set(id, list);
      if (!this.scheduled) {
        this.scheduled = true;
        // Rows are built together in one task: their files go in one request.
        setTimeout(() => this.flush(), 0);
      }
    });
  }

  async flush() {
    this.scheduled = false;
    const ids = [...this.waiting.keys()];
    for (let i = 0; i < ids.length; i += BATCH) {
      const batch = ids.slice(i, i + BATCH);
      const resolvers = batch.map((id) => this.waiting.get(id));
      for (const id of batch) this.waiting.delete(id);
      let links = {};
      try {
        const res = await this.api.fileLinks(batch);
        links = (res && res.links) || {};
      } catch {
        // Nothing to show for now: the next row built asks again.
      }
      const now = Date.now();
      batch.forEach((id, k) => {
        const got = links[id];
        const link = got && got.url ? { ...got, expires: expiryOf(got.url, now) } : null;
        if (link) this.cache.set(id, link);
        for (const resolve of resolvers[k]) resolve(link);
      });
    }
  }
}
