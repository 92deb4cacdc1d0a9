// The SSE parser, and the live loop: a stream read with fetch, resumed with
// Last-Event-ID and a new token after reauth, long-poll when SSE fails or is silent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSseParser } from '../index.js';
import { IDBFactory } from 'fake-indexeddb';
import { controlledSse, fakeServer, makeClient, recordingSleep, token, until } from './helpers.js';

function parse(chunks) {
  const events = [];
  const comments = [];
  const p = createSseParser((e) => events.push(e), (c) => comments.push(c));
  for (const c of chunks) p.push(c);
  return { events, comments };
}

test('the parser joins events split across chunks anywhere, with any line ending', () => {
  const text = ': ping\n\nid: 7\nevent: changes\ndata: {"a":\ndata: 1}\n\r\nevent: reauth\r\ndata: {}\r\n\r\n';
  const whole = parse([text]);
  assert.deepEqual(whole.events, [
    { event: 'changes', data: '{"a":\n1}', id: '7' },
    { event: 'reauth', data: '{}', id: '7' },
  ]);
  assert.deepEqual(whole.comments, ['ping']);
  for (let size = 1; size < 8; size++) {
    const chunks = [];
    for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
    assert.deepEqual(parse(chunks).events, whole.events, `chunks of ${size}`);
  }
});

test('the parser ignores comments and events without data, and handles a field with no space', () => {
  const { events, comments } = parse([':x\n\nevent: changes\n\ndata:tight\n\n']);
  assert.deepEqual(comments, ['x']);
  assert.deepEqual(events, [{ event: 'message', data: 'tight', id: undefined }]);
});

// A text/event-stream answer: the bytes in small pieces (a UTF-8 character may be
// cut in two), then the end, or held open until the request is aborted.
function sse(text, signal, { hold = false } = {}) {
  const bytes = new TextEncoder().encode(text);
  const body = new ReadableStream({
    async start(ctrl) {
      for (let i = 0; i < bytes.length; i += 5) {
        ctrl.enqueue(bytes.slice(i, i + 5));
        await new Promise((r) => setTimeout(r, 0));
      }
      if (!hold) return ctrl.close();
      // as fetch does: an abort errors the body, also one that came while the
      // bytes were being queued (an abort event does not fire twice)
      const abort = () => ctrl.error(new DOMException('aborted', 'AbortError'));
      if (signal.aborted) return abort();
      signal.addEventListener('abort', abort);
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
}

const isStream = (req) => req.headers.Accept === 'text/event-stream';

test('a stream applies its pages; after reauth the client asks a new token and resumes from Last-Event-ID', async (t) => {
  const server = fakeServer();
  const u = server.user('u1');
  const chat = { id: 'c', userId: 'u1', title: 'café ☕', timestamp: 1, parentChatId: null, branchFromMessageId: null, branches: [], isDeleted: false, version: 1 };
  const page = { changes: [{ table: 'chats', op: 'upsert', id: 'c', version: 1, doc: chat }], cursor: '1', hasMore: false };
  const streams = [];
  server.script.push(Object.assign((req) => {
    if (!isStream(req)) return undefined;
    streams.push(req);
    if (streams.length === 1) return sse(`: ping\n\nid: 1\nevent: changes\ndata: ${JSON.stringify(page)}\n\nevent: reauth\ndata: {}\n\n`, req.signal);
    return sse(': ping\n\n', req.signal, { hold: true });
  }, { keep: true }));
  let n = 0;
  const client = makeClient(server, 'u1', { autoStart: true, getToken: async () => token('u1', { n: ++n }) });
  t.after(() => client.close());
  await until(() => streams.length === 2, 'second stream');
  assert.equal((await client.getChat('c')).title, 'café ☕');
  assert.equal(streams[0].headers['Last-Event-ID'], '0');
  assert.equal(streams[1].headers['Last-Event-ID'], '1');
  assert.notEqual(streams[1].headers.Authorization, streams[0].headers.Authorization, 'a new token after reauth');
  await until(() => client.status.connection === 'online', 'online');
  assert.equal(client.status.lastVersion, 1);
  assert.equal(u.log.length, 0, 'everything came through the stream');
});

async function fallsBackToLongPoll(t, answerStream, opts = {}) {
  const server = fakeServer();
  const polls = [];
  server.script.push(Object.assign((req) => {
    if (isStream(req)) return answerStream(req);
    if (req.query.get('live') === '1') {
      polls.push(req);
      return new Promise((resolve) => setTimeout(() => resolve(undefined), 20));
    }
    return undefined;
  }, { keep: true }));
  const client = makeClient(server, 'u1', { autoStart: true, ...opts });
  t.after(() => client.close());
  await until(() => polls.length >= 2, 'long-polls');
  assert.equal(polls[0].query.get('timeout'), '25');
  assert.equal(server.requests.filter(isStream).length, 1, 'SSE is not retried at once');
}

test('SSE refused (a proxy answers something else): the client long-polls', async (t) => {
  await fallsBackToLongPoll(t, () => new Response('<html>no</html>', { status: 200, headers: { 'content-type': 'text/html' } }));
});

test('SSE silent from the start (a buffering proxy): the client long-polls', async (t) => {
  await fallsBackToLongPoll(t, (req) => sse('', req.signal, { hold: true }), { sseIdleMs: 30 });
});

test('429 on the stream waits Retry-After, then catches up and goes live again', async (t) => {
  const server = fakeServer();
  let refused = 0;
  server.script.push(Object.assign((req) => {
    if (!isStream(req)) return undefined;
    if (!refused++) return new Response(JSON.stringify({ error: { code: 'rate_limited', message: 'too many live requests' } }), { status: 429, headers: { 'content-type': 'application/json', 'Retry-After': '5' } });
    return sse(': ping\n\n', req.signal, { hold: true });
  }, { keep: true }));
  const sleep = recordingSleep();
  const client = makeClient(server, 'u1', { autoStart: true, sleep });
  t.after(() => client.close());
  await until(() => server.requests.filter(isStream).length === 2, 'second stream');
  assert.deepEqual(sleep.delays, [5000]);
  const between = server.requests.slice(server.requests.indexOf(server.requests.filter(isStream)[0]) + 1);
  assert.ok(between.some((r) => r.path === '/api/sync' && !isStream(r) && !r.query.get('live')), 'a plain delta catch-up before going live again');
});

test('the browser\'s online event replaces a stream that lived through the outage: a new one, online again', async (t) => {
  // the browser's window events, on globalThis for this test
  const events = new EventTarget();
  globalThis.addEventListener = events.addEventListener.bind(events);
  globalThis.removeEventListener = events.removeEventListener.bind(events);
  t.after(() => {
    delete globalThis.addEventListener;
    delete globalThis.removeEventListener;
  });
  const server = fakeServer();
  const streams = [];
  server.script.push(Object.assign((req) => {
    if (!isStream(req)) return undefined;
    streams.push(req);
    return sse(': ping\n\n', req.signal, { hold: true });
  }, { keep: true }));
  const client = makeClient(server, 'u1', { autoStart: true });
  t.after(() => client.close());
  await until(() => streams.length === 1 && client.status.connection === 'online', 'live');
  events.dispatchEvent(new Event('offline'));
  assert.equal(client.status.connection, 'offline');
  // the stream was not cut (emulated offline, a short outage): only the event says so
  events.dispatchEvent(new Event('online'));
  await until(() => streams.length === 2, 'a new stream');
  assert.ok(streams[0].signal.aborted, 'the old stream is closed');
  await until(() => client.status.connection === 'online', 'online again');
  const plain = server.requests.filter((r) => r.path === '/api/sync' && !isStream(r));
  assert.ok(plain.length >= 2, 'caught up again before the new stream');
});

test('a page that fails to apply closes its stream (no live slot kept), and the client reconnects', async (t) => {
  const server = fakeServer();
  const streams = [];
  server.script.push(Object.assign((req) => {
    if (!isStream(req)) return undefined;
    const s = controlledSse(req);
    streams.push({ req, ...s });
    return s.res;
  }, { keep: true }));
  const client = makeClient(server, 'u1', { autoStart: true });
  t.after(() => client.close());
  await until(() => streams.length === 1 && client.status.connection === 'online', 'live');
  // a document without an id: the replica's put throws
  const bad = { changes: [{ table: 'chats', op: 'upsert', id: 'x', version: 1, doc: { title: 'no id' } }], cursor: '1', hasMore: false };
  streams[0].send(`event: changes\ndata: ${JSON.stringify(bad)}\n\n`);
  await until(() => streams[0].req.signal.aborted, 'the failed stream closed');
  await until(() => streams.length === 2, 'a new stream after the backoff');
});

test('a replica closed under the client (another tab deleted it) stops the live loop with an error, no retry loop', async (t) => {
  const server = fakeServer();
  const streams = [];
  server.script.push(Object.assign((req) => {
    if (!isStream(req)) return undefined;
    const s = controlledSse(req);
    streams.push({ req, ...s });
    return s.res;
  }, { keep: true }));
  const indexedDB = new IDBFactory();
  const errors = [];
  const client = makeClient(server, 'u1', { autoStart: true, indexedDB });
  client.on('error', (e) => errors.push(e));
  t.after(() => client.close());
  await until(() => streams.length === 1 && client.status.connection === 'online', 'live');
  await new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase('chatsync:u1');
    req.onsuccess = resolve;
    req.onerror = () => reject(req.error);
  });
  const page = { changes: [{ table: 'chats', op: 'upsert', id: 'c', version: 1, doc: { id: 'c', title: 't', timestamp: 1, version: 1 } }], cursor: '1', hasMore: false };
  streams[0].send(`event: changes\ndata: ${JSON.stringify(page)}\n\n`);
  await until(() => errors.some((e) => e.code === 'replica_closed'), 'replica_closed reported');
  assert.ok(streams[0].req.signal.aborted, 'the stream is closed');
  assert.equal(client.status.connection, 'offline');
  const requests = server.requests.length;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(server.requests.length, requests, 'no more requests');
});

test('streams that end at once back off, longer while they keep ending early', async (t) => {
  const server = fakeServer();
  const streams = [];
  server.script.push(Object.assign((req) => {
    if (!isStream(req)) return undefined;
    streams.push(req);
    return sse('', req.signal);
  }, { keep: true }));
  const sleep = recordingSleep();
  const client = makeClient(server, 'u1', { autoStart: true, sleep, live: 'sse', backoff: { baseMs: 100, maxMs: 100000 } });
  t.after(() => client.close());
  await until(() => streams.length >= 5, 'five streams');
  // one wait after each stream, each at least the minimum, growing
  assert.ok(sleep.delays.length >= 4);
  assert.ok(sleep.delays.every((d) => d >= 50), String(sleep.delays));
  assert.ok(sleep.delays[3] >= 400 && sleep.delays[0] <= 200, String(sleep.delays));
});

test('long-polls answered at once with nothing back off, longer while they keep doing so', async (t) => {
  const server = fakeServer();
  const sleep = recordingSleep();
  const client = makeClient(server, 'u1', { autoStart: true, sleep, live: 'poll', backoff: { baseMs: 100, maxMs: 100000 } });
  t.after(() => client.close());
  await until(() => server.requests.filter((r) => r.query.get('live') === '1').length >= 5, 'five polls');
  assert.ok(sleep.delays.length >= 4);
  assert.ok(sleep.delays[3] >= 400 && sleep.delays[0] <= 200, String(sleep.delays));
});

test("live: 'sse' never long-polls: a refused stream is tried again as a stream", async (t) => {
  const server = fakeServer();
  server.script.push(Object.assign((req) => isStream(req) && new Response('<html>no</html>', { status: 200, headers: { 'content-type': 'text/html' } }), { keep: true }));
  const client = makeClient(server, 'u1', { autoStart: true, live: 'sse' });
  t.after(() => client.close());
  await until(() => server.requests.filter(isStream).length >= 3, 'three streams');
  assert.equal(server.requests.filter((r) => r.query.get('live') === '1').length, 0);
});

test('the device status is reported after pages that came live too (throttled), with their cursor', async (t) => {
  const server = fakeServer();
  const streams = [];
  server.script.push(Object.assign((req) => {
    if (!isStream(req)) return undefined;
    const s = controlledSse(req);
    streams.push({ req, ...s });
    return s.res;
  }, { keep: true }));
  const client = makeClient(server, 'u1', { autoStart: true });
  t.after(() => client.close());
  await until(() => streams.length === 1 && client.status.connection === 'online', 'live');
  const statuses = () => server.requests.filter((r) => r.path.startsWith('/api/sync-status/'));
  await until(() => statuses().length === 1, 'reported after the catch-up');
  const chat = { id: 'c', userId: 'u1', title: 't', timestamp: 1, parentChatId: null, branchFromMessageId: null, branches: [], isDeleted: false, version: 1 };
  streams[0].send(`event: changes\ndata: ${JSON.stringify({ changes: [{ table: 'chats', op: 'upsert', id: 'c', version: 1, doc: chat }], cursor: '1', hasMore: false })}\n\n`);
  await until(() => statuses().length === 2, 'reported after the live page', 7000);
  assert.equal(statuses()[1].body.cursor, '1');
  assert.equal(streams.length, 1, 'no catch-up or new stream needed for it');
});
