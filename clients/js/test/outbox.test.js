// The outbox: optimistic at once, sent in order, retried on 5xx/network with
// the same id (a replay is a success), Retry-After honoured, rolled back on a
// definitive 4xx, durable across a restart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IDBFactory } from 'fake-indexeddb';
import { errorResponse, fakeServer, makeClient, recordingSleep, until, watcher } from './helpers.js';
import { deleteReplica } from '../index.js';

const isAppend = (req) => req.method === 'POST' && req.path.endsWith('/messages');

test('writes show at once as pending, then are sent in order; a 5xx is sent once more, in its place', async (t) => {
  const server = fakeServer();
  let failed = 0;
  server.script.push((req) => isAppend(req) && req.body.content === 'two' && !failed++ && errorResponse(503, 'unavailable', 'database busy, try again'));
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  const w = watcher();
  const chatP = client.createChat({ title: 'trip' });
  client.watchChat(chatP.id, w.cb);
  const sends = ['one', 'two', 'three'].map((content) => client.addMessage({ chatId: chatP.id, content, role: 'user' }));
  await until(() => w.value && w.value.messages.length === 3, 'optimistic messages');
  assert.deepEqual(w.value.messages.map((m) => m.content), ['one', 'two', 'three']);

  const stored = await Promise.all(sends);
  assert.deepEqual(stored.map((m) => m.position), [0, 1, 2]);
  assert.deepEqual(server.writes().map((r) => r.body.content ?? r.body.title), ['trip', 'one', 'two', 'two', 'three']);
  // The resend is the same request: same client-chosen id.
  const twos = server.writes().filter((r) => r.body.content === 'two');
  assert.equal(twos[0].body.id, twos[1].body.id);
  await until(() => w.value.messages.every((m) => !m.pending) && !w.value.pending, 'no longer pending');
  assert.equal(client.status.pending, 0);
});

test('a replay (the first answer was lost) counts as success and stores nothing twice', async (t) => {
  const server = fakeServer();
  let lost = 0;
  // The server stores the chat, but the answer never arrives.
  server.script.push(async (req, s) => {
    if (req.path !== '/api/chats' || lost++) return undefined;
    const u = s.user('u1');
    s.write(u, 'chats', { id: req.body.id, userId: 'u1', title: req.body.title, timestamp: req.body.timestamp, parentChatId: null, branchFromMessageId: null, branches: [], isDeleted: false });
    return new TypeError('fetch failed');
  });
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  const chat = await client.createChat({ title: 'once' });
  assert.equal(chat.title, 'once');
  assert.equal(server.user('u1').chats.size, 1);
  assert.equal(server.writes().length, 2);
});

test('Retry-After is waited exactly, instead of the backoff', async (t) => {
  const server = fakeServer();
  server.script.push((req) => req.path === '/api/chats' && errorResponse(429, 'rate_limited', 'too many requests', { 'Retry-After': '7' }));
  const sleep = recordingSleep();
  const client = makeClient(server, 'u1', { sleep, backoff: { baseMs: 100, maxMs: 200 } });
  t.after(() => client.close());
  await client.createChat({ title: 'later' });
  assert.deepEqual(sleep.delays, [7000]);
  assert.equal(server.writes().length, 2);
});

test('a 400 rolls the write back: the view drops it, the promise rejects, the error event fires; later writes still go', async (t) => {
  const server = fakeServer();
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  const errors = [];
  client.on('error', (e) => errors.push(e));
  const chat = await client.createChat({ title: 'c' });
  const w = watcher();
  client.watchChat(chat.id, w.cb);
  let open;
  const gate = new Promise((resolve) => (open = resolve));
  server.script.push(async () => {
    await gate;
    return undefined;
  });
  const big = client.addMessage({ chatId: chat.id, content: 'x'.repeat(2000) });
  big.catch(() => {}); // asserted below, after the view is checked
  const ok = client.addMessage({ chatId: chat.id, content: 'fine' });
  await until(() => w.value && w.value.messages.length === 2, 'both shown at once');
  assert.ok(w.value.messages.every((m) => m.pending));
  open();
  await assert.rejects(big, (err) => err.name === 'ChatsyncError' && err.status === 400 && err.code === 'bad_request' && err.mutation.name === 'addMessage');
  await ok;
  await until(() => w.value.messages.length === 1 && !w.value.messages[0].pending, 'rolled back');
  assert.equal(w.value.messages[0].content, 'fine');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].message, 'content: too long');
  assert.equal(client.status.pending, 0);
});

test('the outbox survives a restart: written offline, sent by the next client on the same database', async () => {
  const server = fakeServer();
  const indexedDB = new IDBFactory();
  server.script.push(Object.assign(() => new TypeError('fetch failed'), { keep: true }));
  const offline = makeClient(server, 'u1', { indexedDB });
  const p = offline.createChat({ title: 'written offline' });
  p.catch(() => {});
  await until(() => offline.status.pending === 1, 'queued');
  await until(() => server.requests.length >= 1, 'tried once');
  await offline.close();
  assert.equal(server.user('u1').chats.size, 0);

  server.script.length = 0;
  let open;
  const gate = new Promise((resolve) => (open = resolve));
  server.script.push(async () => {
    await gate;
    return undefined;
  });
  const online = makeClient(server, 'u1', { indexedDB });
  const w = watcher();
  online.watchChats(w.cb);
  await until(() => w.value && w.value.length === 1, 'pending chat shown after restart');
  assert.equal(w.value[0].pending, true);
  open();
  await online.flush();
  assert.equal(server.user('u1').chats.get(p.id).title, 'written offline');
  await online.close();
});

test('writes called back to back, none awaited, reach the server in call order (every kind)', async (t) => {
  const server = fakeServer();
  const u = server.user('u1');
  server.write(u, 'chats', { id: 'c', userId: 'u1', title: 'old', timestamp: 1, parentChatId: null, branchFromMessageId: null, branches: [], isDeleted: false });
  server.write(u, 'messages', { id: 'm', chatId: 'c', userId: 'u1', content: 'hi', role: 'user', timestamp: 1, position: 0, attachments: null, isDeleted: false });
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  await client.sync();
  const calls = [
    client.updateChat({ chatId: 'c', title: 'new' }),
    client.addMessage({ chatId: 'c', content: 'two' }),
    client.updateMessage({ messageId: 'm', content: 'edited' }),
    client.createChat({ title: 'other' }),
    client.updateChat({ chatId: 'c', title: 'newer' }),
    client.branchChat({ chatId: 'c', fromMessageId: 'm' }),
    client.deleteMessage({ messageId: 'm' }),
    client.deleteChat({ chatId: 'c' }),
  ];
  await Promise.all(calls);
  assert.deepEqual(server.writes().map((r) => `${r.method} ${r.path.split('/').map((seg, i) => (i === 3 ? 'ID' : seg)).join('/')}`), [
    'PATCH /api/chats/ID', 'POST /api/chats/ID/messages', 'PATCH /api/messages/ID', 'POST /api/chats',
    'PATCH /api/chats/ID', 'POST /api/chats/ID/branch', 'DELETE /api/messages/ID', 'DELETE /api/chats/ID',
  ]);
  assert.equal(u.chats.get('c').title, 'newer');
});

test('a refused create drops the writes that need it at once: they reject, nothing of them is sent, one error event', async (t) => {
  const server = fakeServer();
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  const errors = [];
  client.on('error', (e) => errors.push(e));
  let open;
  const gate = new Promise((resolve) => (open = resolve));
  server.script.push(async () => {
    await gate;
    return undefined;
  });
  const bad = client.createChat({ title: '' }); // the server refuses an empty title
  const msg = client.addMessage({ chatId: bad.id, content: 'in a chat never made' });
  const edit = msg.then(() => {}, () => {}); // (asserted below)
  const rename = client.updateChat({ chatId: bad.id, title: 'renamed' });
  const fix = client.updateMessage({ messageId: msg.id, content: 'edited' });
  const other = client.createChat({ title: 'fine' });
  for (const p of [bad, msg, rename, fix]) p.catch(() => {});
  await until(() => client.status.pending === 5, 'queued');
  open();
  await assert.rejects(bad, (err) => err.code === 'bad_request');
  for (const p of [msg, rename, fix]) await assert.rejects(p, (err) => err.code === 'dependency_rejected' && err.dependsOn === bad.id);
  await edit;
  assert.equal((await other).title, 'fine');
  assert.deepEqual(server.writes().map((r) => `${r.method} ${r.path === '/api/chats' ? r.body.title : r.path}`), ['POST ', 'POST fine']);
  assert.deepEqual(errors.map((e) => e.code), ['bad_request']);
  await until(() => client.status.pending === 0, 'outbox empty');
});

// Review F6: the replica closed under the outbox (another tab deleted it: a
// sign-out) made the loop's promise reject unseen; the write never settled.
test('the replica deleted by another tab: a queued write rejects with replica_closed, reported once', async (t) => {
  const server = fakeServer();
  const indexedDB = new IDBFactory();
  server.script.push(Object.assign(() => new TypeError('fetch failed'), { keep: true })); // offline
  const client = makeClient(server, 'u1', { indexedDB });
  t.after(() => client.close());
  const errors = [];
  client.on('error', (e) => errors.push(e.code));
  const p = client.createChat({ title: 'x' });
  await until(() => client.status.pending === 1, 'queued');
  await deleteReplica('u1', indexedDB);
  await assert.rejects(p, (e) => e.code === 'replica_closed');
  await until(() => errors.includes('replica_closed'), 'an error event');
  assert.deepEqual(errors.filter((c) => c === 'replica_closed'), ['replica_closed']);
  await assert.rejects(client.createChat({ title: 'y' }), (e) => e.code === 'replica_closed');
});
