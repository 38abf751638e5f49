// Message search (GET /api/search, docs/protocol-additions.md): what is
// asked (the typed words, the person and room filters), when (once the
// typing pauses) and what came back, page after page. Only the newest
// question counts: a request the user typed past is aborted, and its answer
// dropped if it still arrives, so an older answer never replaces a newer one.

import { describeError } from './errors.js';

/** Wait this long after the last keystroke before asking the server. */
export const SEARCH_DELAY_MS = 250;
/** Results per page (the server's default; "More results" asks for the next). */
const PAGE_LIMIT = 20;
/** The server refuses a longer query (after trimming). */
export const QUERY_MAX_CHARS = 500;

/**
 * The `q` the server reads: the typed text, plus `from:NAME` when a person
 * is picked. `from:` and `in:` typed by hand stay as typed; the server
 * reads them.
 */
export function composeQuery(text, from) {
  const name = (from || '').trim().replace(/^@/, '');
  return [text.trim(), name ? `from:${name}` : ''].filter(Boolean).join(' ');
}

/** A sentence for a failed search of `query`; the contract's codes first. */
export function describeSearchError(err, query) {
  if (err && err.code === 'validation_failed') {
    return err.message ? `That search cannot run: ${err.message}` : 'That search cannot run. Try fewer or shorter words.';
  }
  if (err && err.code === 'not_found' && query && query.roomId) return 'That room is gone, or you can no longer read it. Pick another room.';
  return describeError(err);
}

/**
 * The search's state, told to `onChange(state)` on every change:
 * `{status, query, results, next, error, more}` where `status` is 'idle'
 * (nothing asked), 'loading', 'done' or 'error'; `more` is true while the
 * next page loads (the results shown stay); `added` counts the results the
 * last page brought.
 */
export function createSearch({ api, onChange }) {
  const IDLE = { status: 'idle', query: null, results: [], next: null, error: null, more: false, added: 0 };
  let state = IDLE;
  /** The question of the state, or the one waiting for the typing to pause. */
  let wanted = null;
  let timer = null;
  let inFlight = null;

  function set(next) {
    state = next;
    onChange(state);
  }

  /** Forget what waits or runs: its answer will be dropped. */
  function cancel() {
    clearTimeout(timer);
    timer = null;
    if (inFlight) inFlight.abort();
    inFlight = null;
  }

  async function fetchPage(query, before) {
    const mine = new AbortController();
    inFlight = mine;
    try {
      const page = await api.search({ ...query, before, limit: PAGE_LIMIT }, { signal: mine.signal });
      if (inFlight !== mine) return;
      inFlight = null;
      const found = Array.isArray(page && page.results) ? page.results : [];
      set({
        status: 'done', query, error: null, more: false, added: found.length,
        results: before ? [...state.results, ...found] : found,
        next: (page && page.next) || null,
      });
    } catch (err) {
      if (inFlight !== mine) return;
      inFlight = null;
      // A failed "More results" keeps what is shown.
      set({ ...state, status: 'error', query, error: describeSearchError(err, query), more: false, added: 0 });
    }
  }

  const same = (a, b) => Boolean(a && b) && a.q === b.q && (a.roomId || '') === (b.roomId || '');

  return {
    get state() { return state; },

    /**
     * Ask `{q, roomId}` once the typing pauses, or at once with `now`.
     * The same question as the one shown (or on its way) is not asked again,
     * unless `now` (Enter) after a failure.
     */
    update(query, { now = false } = {}) {
      const retry = now && state.status === 'error';
      if (same(query, wanted) && !retry) return;
      cancel();
      wanted = query.q ? query : null;
      if (!wanted) {
        set(IDLE);
        return;
      }
      set({ ...IDLE, status: 'loading', query: wanted });
      const run = () => { timer = null; fetchPage(wanted, null); };
      if (now) run();
      else timer = setTimeout(run, SEARCH_DELAY_MS);
    },

    /** The next (older) page, appended to the results shown. */
    more() {
      if (!state.next || state.more || inFlight || timer) return;
      const { query, next } = state;
      set({ ...state, more: true, added: 0 });
      fetchPage(query, next);
    },
  };
}
