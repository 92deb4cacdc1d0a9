// createClient: wires the replica, the sync feed, the outbox and the tabs
// together, and gives the app live queries, writes and a status. See README.md
// for the API and its guarantees.

import { ChatsyncError, createHttp, isRetryable, tokenSubject, userChangedError } from './http.js';
import { newId } from './ids.js';
import { mutators } from './mutators.js';
import { createOutbox } from './outbox.js';
import { isReplicaClosed, openReplica, replicaName } from './replica.js';
import { createHeld } from './streams.js';
import { createSync } from './sync.js';
import { createTabs } from './tabs.js';
import { chatView, chatsView, docView } from './views.js';

// Resolves after ms, or at once when signal aborts; never rejects.
function defaultSleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal && signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      if (signal) signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (signal) signal.addEventListener('abort', done);
  });
}

// Errors cross tabs as plain objects.
function errorToPlain(err) {
  return { message: err.message, status: err.status, code: err.code, requestId: err.requestId, dropped: err.dropped, doc: err.doc, mutation: err.mutation, dependsOn: err.dependsOn };
}
function errorFromPlain(p) {
  const err = new ChatsyncError(p);
  for (const k of ['dropped', 'doc', 'mutation', 'dependsOn']) if (p[k] !== undefined) err[k] = p[k];
  return err;
}

export function createClient(options = {}) {
  const { url, getToken } = options;
  if (typeof getToken !== 'function') throw new TypeError('createClient: getToken must be a function returning a token');
  const g = globalThis;
  const fetchFn = options.fetch || g.fetch.bind(g);
  const factory = options.indexedDB || g.indexedDB;
  const sleep = options.sleep || defaultSleep;
  const Channel = options.BroadcastChannel === undefined ? g.BroadcastChannel : options.BroadcastChannel;
  const locks = options.locks === undefined ? g.navigator && g.navigator.locks : options.locks;

  const listeners = { error: new Set(), status: new Set() };
  const watchers = new Set();
  const calls = new Map(); // seq -> { resolve, reject }: writes made in this tab
  let status = { connection: 'connecting', pending: 0, lastVersion: 0, cursor: null, leader: false, userId: null, deviceId: null };
  let closed = false;
  // The user_changed error, once a token for another user than the replica's
  // came: from then on the views are blank and nothing is sent or synced.
  let otherUser = null;
  let replica, http, sync, outbox, tabs, userId, deviceId;
  // Streamed replies' chunks not yet in the replica: the leader's, or those it
  // forwarded to this tab (streams.js).
  const held = createHeld();
  const lay = (m) => held.lay(m);

  function emit(kind, value) {
    for (const cb of listeners[kind]) {
      try {
        cb(value);
      } catch (e) {
        setTimeout(() => { throw e; });
      }
    }
  }
  function setStatus(patch) {
    const next = { ...status, ...patch };
    if (JSON.stringify(next) === JSON.stringify(status)) return;
    status = next;
    emit('status', status);
  }

  // quiet: a watcher whose new value is the one it last gave does not call back
  // (the run at the end of the start, which only closes the window between a
  // watcher's first read and this tab listening to the others).
  async function refresh(quiet = false) {
    if (!replica || closed) return;
    for (const w of watchers) w.run(quiet);
    try {
      const [pending, lastVersion, cursor] = await Promise.all([replica.outboxCount(), replica.getMeta('lastVersion'), replica.getMeta('cursor')]);
      if (!closed) setStatus({ pending, lastVersion: lastVersion || 0, cursor: cursor ?? null });
    } catch (err) {
      if (!closed) emit('error', err);
    }
  }
  // A chunk grew a message: the views run again (the status did not change).
  function grew() {
    for (const w of watchers) w.run();
  }
  // The replica changed here: update this tab and tell the others.
  function changed() {
    refresh();
    if (tabs) tabs.post({ type: 'changed' });
  }

  // A token (when there is one) for another user than the replica's stops this client.
  function checkToken(t) {
    const sub = t && tokenSubject(t);
    if (sub && sub !== userId) userChanged(userChangedError(sub));
  }

  // The calls of this tab still waiting for an answer, rejected at once: the
  // client stopped for good (closed, another user, the replica gone).
  function rejectPending(err) {
    for (const call of calls.values()) call.reject(err);
    calls.clear();
  }

  // Another user signed in under this client (a stale userId option, or the
  // app's auth switched users): the previous user's replica must not stay on
  // screen, and their outbox must not be sent with the new user's tokens.
  // Whichever tab notices tells the others (each blanks itself too), and the
  // leader gives up leading, so that no tab of this replica sends or streams.
  function userChanged(err, fromOtherTab = false) {
    if (otherUser || closed) return;
    otherUser = err;
    if (sync) sync.stop();
    if (outbox) outbox.stop();
    setStatus({ connection: 'offline' });
    if (tabs) {
      if (!fromOtherTab) tabs.post({ type: 'user_changed', error: errorToPlain(err) });
      tabs.close();
    }
    refresh();
    emit('error', err);
    rejectPending(err);
  }

  // The replica was closed under this client (another tab deleted it, a
  // sign-out, or upgraded it, a newer library): nothing can be stored or sent
  // any more; reported once, and the waiting calls reject.
  let lost = null;
  function replicaLost(err) {
    if (lost || closed) return;
    lost = err.code === 'replica_closed' ? err : new ChatsyncError({ code: 'replica_closed', message: `could not use the local replica: ${err.message}`, cause: err });
    if (sync) sync.stop();
    if (outbox) outbox.stop();
    setConnection('offline');
    emit('error', lost);
    rejectPending(lost);
  }

  // This tab's live sync state; the leader tells the followers, which run no
  // stream of their own.
  function setConnection(connection) {
    if (closed) return;
    setStatus({ connection });
    if (tabs && tabs.leader) tabs.post({ type: 'connection', connection });
  }

  function settle(seq, error, value, fromOtherTab) {
    const call = calls.get(seq);
    calls.delete(seq);
    if (error) {
      // A write dropped with the one it needed: that one's event says why.
      if (!error.dependsOn) emit('error', error);
      if (call) call.reject(error);
    } else if (call) {
      call.resolve(value);
    }
    if (!fromOtherTab && tabs) tabs.post({ type: 'settled', seq, error: error && errorToPlain(error), value });
  }

  // The replica, open: all that live queries wait for, so that the first
  // render of local data does not wait for the rest of the start below.
  const opened = (async () => {
    // With options.userId the replica opens without the network (an offline
    // reload); otherwise the first token's sub names it.
    userId = options.userId || tokenSubject(await getToken());
    if (!userId) throw new ChatsyncError({ status: 401, code: 'unauthorized', message: 'the token has no user (sub)' });
    // A userId given is checked against the first token as soon as there is
    // one (not awaited: offline, the replica shows without it).
    if (options.userId) Promise.resolve().then(getToken).then(checkToken, () => {});
    replica = await openReplica(userId, factory);
  })();
  const ready = (async () => {
    await opened;
    deviceId = options.deviceId || (await replica.getMeta('deviceId'));
    if (!deviceId) {
      deviceId = newId('d');
      await replica.setMeta('deviceId', deviceId);
    }
    http = createHttp({ url, getToken, fetch: fetchFn, userId });
    setStatus({ userId, deviceId });
    sync = createSync({
      http, replica, sleep,
      backoff: options.backoff,
      live: options.live || 'auto',
      pollTimeoutS: options.pollTimeoutS,
      sseIdleMs: options.sseIdleMs,
      setConnection,
      held,
      // Followers see each chunk as it comes, not once it is stored.
      onChunk(chunk) {
        grew();
        if (tabs) tabs.post({ type: 'chunks', chunks: [chunk] });
      },
      onChunksStored(stored) {
        refresh(); // the status's cursor
        if (tabs) tabs.post({ type: 'stored', stored });
      },
      onPage: (page, result, live) => {
        if (!result.changed) return;
        changed();
        if (live) reportSoon();
      },
      onCaughtUp: reportStatus,
      onError(err) {
        if (err.code === 'user_changed') userChanged(err);
        else if (err.code === 'replica_closed') replicaLost(err);
        else emit('error', err);
      },
    });
    outbox = createOutbox({
      http, replica, sleep,
      backoff: options.backoff,
      catchUp: (minVersion) => sync.catchUp(minVersion),
      onChange: changed,
      onSettled: (seq, error, value) => settle(seq, error, value, false),
      onRetry: (err) => err && err.code === 'user_changed' && userChanged(err),
      onStopped: replicaLost,
      canSend: () => !tabs || tabs.leader,
    });
    tabs = createTabs({
      name: replicaName(userId),
      BroadcastChannel: Channel,
      locks,
      onMessage(msg) {
        if (msg.type === 'changed') {
          refresh();
          if (tabs.leader) outbox.wake();
        } else if (msg.type === 'settled') {
          settle(msg.seq, msg.error && errorFromPlain(msg.error), msg.value, true);
        } else if (msg.type === 'chunks' && !tabs.leader) {
          for (const chunk of msg.chunks) held.add(chunk);
          grew();
        } else if (msg.type === 'stored') {
          for (const [id, seq] of msg.stored) held.drop(id, seq);
        } else if (msg.type === 'connection' && !tabs.leader) {
          setStatus({ connection: msg.connection });
        } else if (msg.type === 'user_changed') {
          userChanged(errorFromPlain(msg.error), true);
        } else if (msg.type === 'hello' && tabs.leader) {
          tabs.post({ type: 'connection', connection: status.connection });
        }
      },
      // Only the leader sends the outbox and holds the live stream: one stream
      // per browser (the server caps a user's live requests), and the others'
      // views follow the pages it stores through the channel's "changed".
      onLeader(isLeader) {
        if (closed || otherUser) return;
        setStatus({ leader: isLeader });
        if (isLeader) {
          outbox.start();
          if (options.autoStart !== false) sync.start();
        } else {
          outbox.stop();
          sync.stop();
        }
      },
    });
    tabs.post({ type: 'hello' });
    if (closed) return;
    if (g.addEventListener) {
      g.addEventListener('online', onOnline);
      g.addEventListener('offline', onOffline);
    }
    refresh(true);
  })();
  ready.catch((err) => emit('error', err));

  // The device's sync status, on the server: after each catch-up, and after
  // pages that came live (at most one report per STATUS_EVERY_MS, the last
  // page's cursor included). A refusal (409: the user has too many devices) is
  // reported once, not after every catch-up, until a report succeeds again.
  // close() ends a report under way.
  const STATUS_EVERY_MS = 5000;
  let lastReport = 0;
  let reportTimer = null;
  let reportRefused = false;
  const reports = new AbortController();
  async function reportStatus() {
    lastReport = Date.now();
    try {
      await http.request('PUT', `/api/sync-status/${encodeURIComponent(deviceId)}`, {
        body: { cursor: await replica.getMeta('cursor'), lastSyncTimestamp: Date.now() },
        signal: reports.signal,
      });
      reportRefused = false;
    } catch (err) {
      if (isReplicaClosed(err)) return replicaLost(err);
      if (reports.signal.aborted || isRetryable(err) || reportRefused) return;
      reportRefused = true;
      emit('error', err);
    }
  }
  function reportSoon() {
    if (reportTimer || closed) return;
    reportTimer = setTimeout(() => {
      reportTimer = null;
      if (!closed && !otherUser) reportStatus();
    }, Math.max(0, lastReport + STATUS_EVERY_MS - Date.now()));
  }

  function onOnline() {
    sync.wake();
    outbox.online();
  }
  function onOffline() {
    setStatus({ connection: 'offline' });
  }

  // A live query: compute() once now and again after every change, never two
  // at once (changes during a run make one more run).
  // The first run waits only for the replica to open (not for the rest of
  // the start), so local data shows at once.
  function watch(compute, cb, blank) {
    const w = { active: true, running: false, dirty: false, dirtyQuiet: false, sent: false, last: undefined };
    w.run = async (quiet = false) => {
      if (w.running) {
        w.dirtyQuiet = w.dirty ? w.dirtyQuiet && quiet : quiet;
        w.dirty = true;
        return;
      }
      w.running = true;
      try {
        await opened;
        let q = quiet;
        do {
          w.dirty = false;
          const value = otherUser ? blank : await compute();
          if (otherUser && value !== blank) {
            w.dirty = true; // computed before the user changed: run again, blank
            continue;
          }
          if (w.active && !(q && w.sent && JSON.stringify(value) === JSON.stringify(w.last))) {
            w.sent = true;
            w.last = value;
            cb(value);
          }
          q = w.dirtyQuiet;
        } while (w.dirty && w.active);
      } catch (err) {
        if (w.active && !closed) emit('error', err);
      } finally {
        w.running = false;
      }
    };
    watchers.add(w);
    w.run();
    return () => {
      w.active = false;
      watchers.delete(w);
    };
  }

  // A write: applied to the views at once (the outbox entry is what they show),
  // sent by the leader tab; the promise settles with the server's answer.
  // Entries join the outbox one after the other in call order (the enqueue
  // chain): an update reads its base first, and without the chain a delete
  // called after it would be queued, and sent, before it.
  let enqueued = Promise.resolve();

  // Whether the app's token is still this replica's user's, asked before each
  // write is queued: a follower tab (which sends nothing itself) would else
  // queue the new user's writes into the previous user's outbox. Offline or
  // slow (no answer within TOKEN_CHECK_MS), the write is queued: the sender
  // checks every token again. While one getToken call is still unanswered past
  // that bound, later writes do not wait for it again (writes in a row would
  // each show a second late); its answer, when it comes, is still checked.
  const TOKEN_CHECK_MS = 1000;
  let asking = null; // { answered, slow }: the getToken call under way
  async function checkUser() {
    if (asking && asking.slow) return;
    if (!asking) {
      const ask = { slow: false };
      ask.answered = Promise.resolve().then(getToken).then(checkToken, () => {}).finally(() => {
        if (asking === ask) asking = null;
      });
      asking = ask;
    }
    const ask = asking;
    let timer;
    const late = new Promise((resolve) => (timer = setTimeout(() => resolve(true), TOKEN_CHECK_MS)));
    if (await Promise.race([ask.answered, late])) ask.slow = true;
    clearTimeout(timer);
  }

  function write(name, input) {
    const m = mutators[name];
    let prepared;
    try {
      prepared = m.prepare(input);
    } catch (err) {
      return Promise.reject(err);
    }
    const place = enqueued.then(async () => {
      await ready;
      if (closed) throw new ChatsyncError({ code: 'closed', message: 'the client is closed' });
      if (otherUser) throw otherUser;
      if (lost) throw lost;
      await checkUser();
      if (otherUser) throw otherUser;
      const { args, docId } = prepared;
      const entry = { name, args, docId, baseVersion: 0, createdAt: Date.now() };
      const seq = await replica.enqueue(entry, m.fields && m.table, (doc, queued) => {
        entry.baseVersion = (doc && doc.version) || 0;
        const view = docView(userId, m.table, doc, queued);
        entry.base = {};
        for (const f of m.fields) if (view && view[f] !== undefined) entry.base[f] = view[f];
      });
      const settled = new Promise((resolve, reject) => calls.set(seq, { resolve, reject }));
      changed();
      outbox.wake();
      // wrapped: a promise returned bare would make place wait for the answer
      return { settled };
    });
    // The next write waits for this one's place in the queue, not its answer.
    enqueued = place.then(() => {}, () => {});
    const promise = place.then((p) => p.settled);
    promise.id = prepared.docId;
    return promise;
  }

  const client = {
    ready,
    get status() {
      return status;
    },
    get userId() {
      return userId;
    },
    get deviceId() {
      return deviceId;
    },
    onStatus(cb) {
      listeners.status.add(cb);
      cb(status);
      return () => listeners.status.delete(cb);
    },
    on(event, cb) {
      if (!listeners[event]) throw new TypeError(`unknown event ${event}: use 'error' or 'status'`);
      listeners[event].add(cb);
      return () => listeners[event].delete(cb);
    },
    watchChats: (cb) => watch(() => chatsView(replica, userId), cb, []),
    watchChat: (chatId, cb) => watch(() => chatView(replica, userId, chatId, lay), cb, null),
    getChats: async () => (await ready, otherUser ? [] : chatsView(replica, userId)),
    getChat: async (chatId) => (await ready, otherUser ? null : chatView(replica, userId, chatId, lay)),
    createChat: (args) => write('createChat', args),
    updateChat: (args) => write('updateChat', args),
    deleteChat: (args) => write('deleteChat', args),
    addMessage: (args) => write('addMessage', args),
    updateMessage: (args) => write('updateMessage', args),
    deleteMessage: (args) => write('deleteMessage', args),
    branchChat: (args) => write('branchChat', args),
    // Catch up with the server now (resolves when the feed has no more).
    async sync() {
      await ready;
      try {
        await sync.catchUp();
      } catch (err) {
        if (err.code === 'user_changed') userChanged(err);
        throw err;
      }
      await refresh();
    },
    // Resolves when the outbox is empty (every write answered), or rejects after timeoutMs.
    async flush(timeoutMs = 30000) {
      await ready;
      const until = Date.now() + timeoutMs;
      while ((await replica.outboxCount()) > 0) {
        if (Date.now() > until) throw new ChatsyncError({ code: 'timeout', message: 'the outbox is not empty yet' });
        await defaultSleep(20);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      rejectPending(new ChatsyncError({ code: 'closed', message: 'the client is closed: the write stays queued and is sent by the next client of this user' }));
      reports.abort();
      try {
        await ready;
      } catch {
        return;
      }
      sync.stop();
      outbox.stop();
      tabs.close();
      await sync.flush().catch(() => {});
      clearTimeout(reportTimer);
      watchers.clear();
      if (g.removeEventListener) {
        g.removeEventListener('online', onOnline);
        g.removeEventListener('offline', onOffline);
      }
      replica.close();
    },
  };
  return client;
}
