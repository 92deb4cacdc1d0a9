// Keeping the replica up to date: delta catch-up from the stored cursor
// (GET /api/sync, following hasMore), then live over Server-Sent Events read with
// fetch (EventSource cannot send an Authorization header) resuming with
// Last-Event-ID, or long-poll (live=1) when SSE fails or yields nothing (a
// buffering proxy). Every failure waits a jittered backoff, or Retry-After; so
// does a live request that ends early (a server or proxy that closes at once),
// the backoff growing while they keep ending early. A closed replica (another
// tab deleted or upgraded the database) stops the loop: retrying cannot help.
// Streamed replies' chunks (SSE chunk events, long-poll chunks) are checked
// against the text the client has, held for the views and written with their
// cursor once per FLUSH_MS; a gap ends the live request and resyncs.

import { ChatsyncError, backoffDelay, retryDelay, sleepAny } from './http.js';
import { isReplicaClosed } from './replica.js';
import { FLUSH_MS } from './streams.js';

// An SSE parser (the WHATWG rules, less `retry`): feed it text as it arrives,
// in chunks cut anywhere; it calls onEvent({ event, data, id }) at each blank
// line and onComment(text) for ": ping" lines.
export function createSseParser(onEvent, onComment = () => {}) {
  let buffer = '';
  let event = '';
  let data = [];
  let id;
  function line(text) {
    if (text === '') {
      if (data.length) onEvent({ event: event || 'message', data: data.join('\n'), id });
      event = '';
      data = [];
      return;
    }
    if (text[0] === ':') return onComment(text.slice(1).trimStart());
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id' && !value.includes('\0')) id = value;
  }
  return {
    push(chunk) {
      buffer += chunk;
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer[i];
        if (c !== '\n' && c !== '\r') continue;
        // A "\r" at the very end may be the first half of "\r\n": wait for more.
        if (c === '\r' && i === buffer.length - 1) break;
        line(buffer.slice(start, i));
        if (c === '\r' && buffer[i + 1] === '\n') i++;
        start = i + 1;
      }
      buffer = buffer.slice(start);
    },
    get pending() {
      return buffer.length;
    },
  };
}

// opts: http, replica, onPage(page, result, live) after a page is stored, setConnection(state),
// onCaughtUp() (not awaited), sleep(ms, signal), backoff, live ('auto' | 'sse' | 'poll'),
// pollTimeoutS, sseIdleMs; held (createHeld()), onChunk(chunk) when one is
// held, onChunksStored([[messageId, streamSeq]]) after they are written.
// A live request that ends sooner than this did not really live: back off more.
const MIN_LIVE_MS = 5000;

export function createSync(opts) {
  const { http, replica, sleep } = opts;
  // One run per start(): stop() aborts its controller, and a run that wakes up
  // after a stop and a new start sees that its generation is no longer current.
  let controller = new AbortController();
  let signal = controller.signal;
  let generation = 0;
  let running = false;
  let catchingUp = null;
  let sseOffUntil = opts.live === 'poll' ? Infinity : 0;
  // live: 'sse' means SSE only: failures back off and try SSE again.
  const sseOff = () => {
    if (opts.live !== 'sse') sseOffUntil = Date.now() + 5 * 60 * 1000;
  };
  let wake = null;
  // The live request open now (a stream or a long-poll), and whether it was
  // ended on purpose to open a new one at once (the network came back).
  let live = null;
  let restart = false;
  const { held } = opts;
  // The cursor of the last chunk held (null: none held since the last write).
  let heldCursor = null;
  let flushTimer = null;
  let flushing = Promise.resolve();
  // The next catch-up's first page replaces the cursor (a resync after a gap).
  let forceNext = false;

  // Writes the chunks held, and the server's cursor as given, in one transaction.
  function flush() {
    clearTimeout(flushTimer);
    flushTimer = null;
    const run = flushing.then(async () => {
      if (heldCursor == null) return;
      const cursor = heldCursor;
      heldCursor = null;
      let stored;
      try {
        stored = await replica.applyChunks(held.entries(), cursor);
      } catch (err) {
        heldCursor ??= cursor; // still held: the next flush writes them
        throw err;
      }
      for (const [id, seq] of stored) held.drop(id, seq);
      opts.onChunksStored(stored);
    });
    flushing = run.catch(() => {});
    return run;
  }

  // One chunk, by the rules of docs/API.md ("Applying them"): the next one is
  // held, one the client has is ignored, one past a gap (or of a message the
  // client does not have) throws stream_gap; a final message ignores them.
  async function applyChunk(chunk, cursor) {
    const doc = await replica.message(chunk.messageId);
    if (doc && doc.streamState !== 'streaming') return;
    const have = Math.max((doc && doc.streamSeq) || 0, held.last(chunk.messageId));
    if (!doc || chunk.seq > have + 1) {
      throw new ChatsyncError({ code: 'stream_gap', message: `could not apply chunk ${chunk.seq} of message ${chunk.messageId}: the client has ${doc ? have : 'no such message'}` });
    }
    if (chunk.seq === have + 1) {
      held.add(chunk);
      opts.onChunk(chunk);
    }
    heldCursor = cursor;
    // A failure here is met again, and reported, by the loop's next flush.
    if (!flushTimer) flushTimer = setTimeout(() => flush().catch(() => {}), FLUSH_MS);
  }

  // A controller for one live request: aborted by stop() and by reconnect().
  function liveController(sig) {
    const local = new AbortController();
    const onAbort = () => local.abort();
    sig.addEventListener('abort', onAbort);
    live = local;
    const done = () => {
      sig.removeEventListener('abort', onAbort);
      if (live === local) live = null;
    };
    return { local, done };
  }

  // live: the page came on a stream or long-poll (not a catch-up).
  async function applyPage(page, live = false, force = false) {
    await flush();
    const result = await replica.applyPage(page, force);
    opts.onPage(page, result, live);
    return page;
  }

  async function fetchPage(cursor, extra = '', timeoutMs, sig = signal) {
    const q = `cursor=${encodeURIComponent(cursor || '0')}&limit=500${extra}`;
    const res = await http.request('GET', `/api/sync?${q}`, { signal: sig, timeoutMs });
    return res.json();
  }

  // Pages until hasMore is false. Concurrent callers share one run, unless
  // one needs a newer minVersion than the run asked for: it runs once more.
  // force: a resync, whose first page's cursor replaces the stored one.
  // minVersion: a version the pages must show (docs/API.md): a read from a
  // Postgres replica that has not reached it waits, or goes to the primary.
  let askedFor = 0;
  async function catchUp(force = false, minVersion = 0) {
    if (catchingUp && minVersion > askedFor) await catchingUp.catch(() => {});
    if (force) forceNext = true;
    if (!catchingUp) {
      askedFor = minVersion;
      const extra = minVersion > 0 ? `&minVersion=${minVersion}` : '';
      catchingUp = (async () => {
        await flush();
        for (let pages = 0; pages < 100000; pages++) {
          const page = await fetchPage(await replica.getMeta('cursor'), extra);
          const replace = forceNext;
          forceNext = false;
          await applyPage(page, false, replace);
          if (!page.hasMore) break;
        }
      })().finally(() => {
        catchingUp = null;
      });
    }
    return catchingUp;
  }

  // One SSE stream until it ends. Resolves 'reauth' | 'restart' | 'ended' |
  // 'gap'; throws to fall back.
  async function stream(sig) {
    await flush();
    const cursor = (await replica.getMeta('cursor')) || '0';
    const { local, done } = liveController(sig);
    let gotBytes = false;
    let idle;
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => local.abort(), opts.sseIdleMs ?? 35000);
    };
    try {
      armIdle();
      const res = await http.request('GET', `/api/sync?cursor=${encodeURIComponent(cursor)}`, {
        headers: { Accept: 'text/event-stream', 'Last-Event-ID': cursor },
        signal: local.signal,
        timeoutMs: 24 * 3600 * 1000,
      });
      if (!(res.headers.get('content-type') || '').startsWith('text/event-stream') || !res.body) {
        throw new ChatsyncError({ status: res.status, code: 'no_sse', message: 'the answer is not an event stream' });
      }
      opts.setConnection('online');
      let reauth = false;
      let queue = Promise.resolve();
      const parser = createSseParser((ev) => {
        if (ev.event === 'reauth') reauth = true;
        else if (ev.event === 'changes') queue = queue.then(() => applyPage(JSON.parse(ev.data), true));
        else if (ev.event === 'chunk') queue = queue.then(() => applyChunk(JSON.parse(ev.data), ev.id));
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        gotBytes = true;
        armIdle();
        parser.push(value);
        await queue;
        if (reauth) {
          local.abort();
          break;
        }
      }
      return reauth ? 'reauth' : 'ended';
    } catch (err) {
      if (sig.aborted) throw err;
      if (err.code === 'stream_gap') return 'gap';
      if (restart) return 'restart';
      // Nothing at all within the idle bound: something buffers the stream.
      if (local.signal.aborted && !gotBytes) sseOff();
      if (local.signal.aborted) return 'ended';
      if (err.status && err.status !== 429 && err.status !== 503 && err.status !== 401) sseOff();
      throw err;
    } finally {
      clearTimeout(idle);
      // However the stream ended (a page that failed to apply included), its
      // request is closed: an open one keeps a live slot on the server.
      local.abort();
      done();
    }
  }

  async function longPoll(sig) {
    const timeout = opts.pollTimeoutS ?? 25;
    let early = 0;
    const gen = generation;
    while (running && gen === generation && Date.now() < sseOffUntil) {
      const { local, done } = liveController(sig);
      const startedAt = Date.now();
      let page;
      try {
        page = await fetchPage(await replica.getMeta('cursor'), `&live=1&timeout=${timeout}`, (timeout + 15) * 1000, local.signal);
      } catch (err) {
        if (restart && !sig.aborted) return;
        throw err;
      } finally {
        done();
      }
      opts.setConnection('online');
      const chunks = page.chunks || [];
      if (chunks.length) {
        for (const chunk of chunks) await applyChunk(chunk, page.cursor);
        await flush(); // the next request starts from this page's cursor
      } else {
        await applyPage(page, true);
      }
      // An empty answer long before the timeout: the server (or a proxy) does
      // not hold the request; wait before the next rather than spin.
      if ((page.changes || []).length || chunks.length || Date.now() - startedAt >= MIN_LIVE_MS) early = 0;
      else await sleep(backoffDelay(early++, opts.backoff), sig);
    }
  }

  async function run(gen, sig) {
    const current = () => running && gen === generation;
    let attempt = 0;
    // Streams in a row that ended within MIN_LIVE_MS: the backoff's attempt.
    let early = 0;
    // A gap in a stream's chunks: catch up from the cursor, and forget the
    // chunks it says were sent, so that the server sends them again.
    let resync = false;
    while (current()) {
      restart = false;
      try {
        await catchUp(resync);
        resync = false;
        opts.setConnection('online');
        // Not awaited: going live does not wait for the status report.
        opts.onCaughtUp();
        attempt = 0;
        if (Date.now() >= sseOffUntil) {
          const startedAt = Date.now();
          const how = await stream(sig);
          if (!current()) break;
          // at once: getToken gives the new token / the network is back
          if (how === 'reauth' || how === 'restart') continue;
          if (how === 'gap') {
            resync = true;
            continue;
          }
          early = Date.now() - startedAt < MIN_LIVE_MS ? early + 1 : 0;
          // Jittered, so that the clients of a restarted server do not all
          // come back in the same instant.
          await sleep(backoffDelay(early, opts.backoff), sig);
        } else {
          await longPoll(sig);
        }
      } catch (err) {
        if (!current()) break;
        if (err.code === 'stream_gap') {
          resync = true;
          continue;
        }
        if (err.code === 'user_changed') {
          running = false;
          opts.onError(err);
          break;
        }
        if (isReplicaClosed(err)) {
          running = false;
          opts.setConnection('offline');
          opts.onError(new ChatsyncError({ code: 'replica_closed', message: `could not use the local replica: ${err.message}`, cause: err }));
          break;
        }
        opts.setConnection(err.status === 0 ? 'offline' : 'connecting');
        const w = new AbortController();
        wake = () => w.abort();
        await sleepAny(sleep, retryDelay(err, attempt++, opts.backoff), [sig, w.signal]);
        wake = null;
      }
    }
  }

  return {
    catchUp: (minVersion = 0) => catchUp(false, minVersion),
    flush,
    start() {
      if (running) return;
      running = true;
      opts.setConnection('connecting');
      run(++generation, signal);
    },
    // The network is back (the browser's online event): retry now, not later,
    // and replace the live request open now, which may not have lived through
    // the outage: catch up and go live again at once.
    wake() {
      if (wake) wake();
      if (live && !live.signal.aborted) {
        restart = true;
        live.abort();
      }
    },
    stop() {
      running = false;
      controller.abort();
      // a fresh one for a catchUp() called now, or the next start()
      controller = new AbortController();
      signal = controller.signal;
    },
  };
}
