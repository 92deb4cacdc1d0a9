// Tokens, status and starting offline.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IDBFactory } from 'fake-indexeddb';
import { backoffDelay, createHttp } from '../http.js';
import { errorResponse, fakeServer, makeClient, token, until } from './helpers.js';

test('a 401 asks getToken again and retries the request once with the new token', async (t) => {
  const server = fakeServer();
  let calls = 0;
  server.script.push((req) => req.path === '/api/chats' && errorResponse(401, 'unauthorized', 'token expired'));
  const client = makeClient(server, 'u1', { getToken: async () => (calls++, token('u1', { n: calls })) });
  t.after(() => client.close());
  await client.ready;
  const before = calls;
  await client.createChat({ title: 't' });
  // one for the write's check of the user, one per request
  assert.equal(calls - before, 3);
  const posts = server.requests.filter((r) => r.path === '/api/chats');
  assert.equal(posts.length, 2);
  assert.notEqual(posts[0].headers.Authorization, posts[1].headers.Authorization);
});

test('getToken failing (offline) keeps the write queued; it is sent when a token comes', async (t) => {
  const server = fakeServer();
  let offline = true;
  const errors = [];
  const client = makeClient(server, 'u1', {
    userId: 'u1',
    getToken: async () => {
      if (offline) throw new TypeError('Failed to fetch');
      return token('u1');
    },
  });
  t.after(() => client.close());
  client.on('error', (e) => errors.push(e));
  const p = client.createChat({ title: 'queued' });
  await until(() => client.status.pending === 1, 'queued');
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(client.status.pending, 1, 'not rolled back');
  offline = false;
  assert.equal((await p).title, 'queued');
  assert.deepEqual(errors, []);
});

test('with userId the replica opens with no token and no network, outbox included', async () => {
  const server = fakeServer();
  const indexedDB = new IDBFactory();
  const first = makeClient(server, 'u1', { indexedDB });
  await first.createChat({ title: 'kept' });
  await first.close();
  const client = makeClient(server, 'u1', { indexedDB, userId: 'u1', getToken: async () => { throw new TypeError('offline'); } });
  assert.deepEqual((await client.getChats()).map((c) => c.title), ['kept']);
  await client.close();
});

test('status: offline with a pending count while the network is down, online and 0 after', async (t) => {
  const server = fakeServer();
  let down = true;
  server.script.push(Object.assign(() => down && new TypeError('fetch failed'), { keep: true }));
  server.script.push(Object.assign((req) => req.query.get('live') && new Promise((r) => setTimeout(() => r(undefined), 20)), { keep: true }));
  const seen = [];
  const client = makeClient(server, 'u1', { autoStart: true, live: 'poll' });
  t.after(() => client.close());
  client.onStatus((s) => seen.push({ connection: s.connection, pending: s.pending }));
  client.createChat({ title: 'x' }).catch(() => {});
  await until(() => client.status.connection === 'offline' && client.status.pending === 1, 'offline, 1 pending');
  down = false;
  await until(() => client.status.connection === 'online' && client.status.pending === 0, 'online, nothing pending');
  await until(() => client.status.lastVersion === 1, 'last version');
  assert.equal(seen[0].connection, 'connecting');
  assert.ok(seen.some((s) => s.connection === 'offline' && s.pending === 1));
});

test('backoff is jittered between half and all of an exponential ceiling', () => {
  for (let attempt = 0; attempt < 8; attempt++) {
    const ceiling = Math.min(30000, 500 * 2 ** attempt);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(attempt);
      assert.ok(d >= ceiling / 2 && d <= ceiling, `attempt ${attempt}: ${d}`);
    }
  }
});

// Review nit: an app's getToken that never answers held every request (and
// stop()) forever.
test('a getToken that does not answer fails the request as retryable after its bound; an abort ends the wait at once', async () => {
  const http = createHttp({ url: 'http://x', getToken: () => new Promise(() => {}), fetch: () => assert.fail('no request without a token'), tokenWaitMs: 50 });
  await assert.rejects(http.request('GET', '/api/sync'), (e) => e.code === 'token_unavailable' && e.status === 0);
  const c = new AbortController();
  const p = http.request('GET', '/api/sync', { signal: c.signal, timeoutMs: 60000 });
  c.abort();
  await assert.rejects(p, (e) => e.name === 'AbortError');
});

test('close() rejects the writes of this tab still waiting for an answer; they stay queued', async () => {
  const server = fakeServer();
  const indexedDB = new IDBFactory();
  server.script.push(Object.assign(() => new TypeError('fetch failed'), { keep: true })); // offline
  const client = makeClient(server, 'u1', { indexedDB });
  const p = client.createChat({ title: 'x' });
  await until(() => client.status.pending === 1, 'queued');
  await client.close();
  await assert.rejects(p, (e) => e.code === 'closed');
  server.script.length = 0;
  const next = makeClient(server, 'u1', { indexedDB });
  await next.flush();
  assert.equal(server.user('u1').chats.size, 1, 'sent by the next client');
  await next.close();
});

// Review nits: a refused status report (409: too many devices) was reported
// after every catch-up, and the report was awaited before going live.
test('a refused status report is reported once; going live does not wait for the report, and close() ends it', async (t) => {
  const server = fakeServer();
  let puts = 0;
  let hung = null;
  server.script.push(Object.assign((req) => {
    if (req.method === 'PUT' && puts++ < 3) return errorResponse(409, 'conflict', 'too many devices (at most 100)');
    if (req.method === 'PUT') {
      hung = req;
      return new Promise((resolve) => req.signal.addEventListener('abort', () => resolve(new DOMException('aborted', 'AbortError'))));
    }
    // every live request fails: the loop catches up (and reports) again
    if (req.path === '/api/sync' && (req.query.get('live') || req.headers.Accept) && puts < 4) return errorResponse(500, 'internal', 'down');
    return undefined;
  }, { keep: true }));
  const client = makeClient(server, 'u1', { autoStart: true, live: 'poll' });
  const errors = [];
  client.on('error', (e) => errors.push(e));
  await until(() => hung, 'a fourth report, which hangs');
  await until(() => server.requests.some((r) => r.query.get('live') && server.requests.indexOf(r) > server.requests.indexOf(hung)), 'live while the report hangs');
  await client.close();
  assert.ok(hung.signal.aborted, 'close() ended the report');
  assert.equal(errors.filter((e) => e.status === 409).length, 1);
});
