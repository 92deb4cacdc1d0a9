// The replica follows the sync feed, and the live queries show it in the API's
// order, without deleted documents, until unsubscribed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeServer, makeClient, until, watcher } from './helpers.js';

function chat(id, timestamp, extra = {}) {
  return { id, userId: 'u1', title: id, timestamp, parentChatId: null, branchFromMessageId: null, branches: [], isDeleted: false, ...extra };
}
function message(id, chatId, position, extra = {}) {
  return { id, chatId, userId: 'u1', content: id, role: 'user', timestamp: 1000, position, attachments: null, isDeleted: false, ...extra };
}

test('a sync page upserts documents, a delete hides them, an older version never replaces a newer one', async (t) => {
  const server = fakeServer();
  const u = server.user('u1');
  server.write(u, 'chats', chat('a', 1));
  server.write(u, 'chats', chat('b', 2));
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  const w = watcher();
  client.watchChats(w.cb);
  await client.sync();
  await until(() => w.value && w.value.length === 2, 'two chats');
  assert.deepEqual(w.value.map((c) => c.id), ['b', 'a']);

  server.write(u, 'chats', { ...u.chats.get('a'), title: 'renamed' });
  server.write(u, 'chats', { ...u.chats.get('b'), isDeleted: true }, 'delete');
  await client.sync();
  await until(() => w.value.length === 1 && w.value[0].title === 'renamed', 'rename and delete applied');
  assert.equal(client.status.lastVersion, 4);
  assert.equal(client.status.cursor, '4');

  // A stale copy (version 3 < 4) arriving late must not undo the rename.
  server.script.push((req) => req.path === '/api/sync' && new Response(JSON.stringify({ changes: [{ table: 'chats', op: 'upsert', id: 'a', version: 3, doc: { ...chat('a', 1), version: 3 } }], cursor: '4', hasMore: false }), { headers: { 'content-type': 'application/json' } }));
  await client.sync();
  assert.equal((await client.getChats())[0].title, 'renamed');
});

test('catch-up follows hasMore to the end and reports the device with its cursor', async (t) => {
  const server = fakeServer();
  const u = server.user('u1');
  for (let i = 0; i < 5; i++) server.write(u, 'chats', chat(`c${i}`, i));
  server.script.push(Object.assign((req) => {
    if (req.path !== '/api/sync') return undefined;
    req.query.set('limit', '2');
    return undefined;
  }, { keep: true }));
  const client = makeClient(server, 'u1', { deviceId: 'laptop', autoStart: true, live: 'poll', pollTimeoutS: 0 });
  t.after(() => client.close());
  await until(() => u.statuses.get('laptop'), 'sync status reported');
  assert.equal(u.statuses.get('laptop').cursor, '5');
  const firstPages = server.requests.filter((r) => r.path === '/api/sync' && !r.query.get('live'));
  assert.ok(firstPages.length >= 3, `pages of 2 need 3 requests, got ${firstPages.length}`);
  assert.equal((await client.getChats()).length, 5);
});

test('watchChat gives the chat and its messages in position order, deleted ones hidden, null for a deleted chat', async (t) => {
  const server = fakeServer();
  const u = server.user('u1');
  server.write(u, 'chats', chat('c', 1));
  server.write(u, 'messages', message('m2', 'c', 2));
  server.write(u, 'messages', message('m0', 'c', 0));
  server.write(u, 'messages', message('mnull', 'c', null));
  server.write(u, 'messages', message('m1', 'c', 1, { isDeleted: true }));
  server.write(u, 'messages', message('other', 'elsewhere', 0));
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  const w = watcher();
  client.watchChat('c', w.cb);
  await client.sync();
  await until(() => w.value && w.value.messages.length === 3, 'three messages');
  assert.deepEqual(w.value.messages.map((m) => m.id), ['mnull', 'm0', 'm2']);
  assert.equal(w.value.title, 'c');

  server.write(u, 'chats', { ...u.chats.get('c'), isDeleted: true }, 'delete');
  await client.sync();
  await until(() => w.value === null, 'deleted chat gives null');
});

test('callbacks fire at once with local data, and never after unsubscribe', async (t) => {
  const server = fakeServer();
  const u = server.user('u1');
  server.write(u, 'chats', chat('a', 1));
  const { IDBFactory } = await import('fake-indexeddb');
  const indexedDB = new IDBFactory();
  const first = makeClient(server, 'u1', { indexedDB });
  await first.sync();
  await first.close();

  // Offline from the start: the replica alone answers.
  server.script.push(Object.assign(() => new TypeError('fetch failed'), { keep: true }));
  const client = makeClient(server, 'u1', { indexedDB });
  t.after(() => client.close());
  const w = watcher();
  const off = client.watchChats(w.cb);
  await until(() => w.calls === 1, 'first callback');
  assert.deepEqual(w.value.map((c) => c.id), ['a']);
  off();
  const p = client.createChat({ title: 'x' });
  p.catch(() => {});
  await until(() => client.status.pending === 1, 'write queued');
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(w.calls, 1);
});

test('the cursor never moves back: a late answer to an older request, or an empty one, leaves it', async () => {
  const { IDBFactory } = await import('fake-indexeddb');
  const { openReplica } = await import('../replica.js');
  const replica = await openReplica('u1', new IDBFactory());
  const change = (id, version) => ({ table: 'chats', op: 'upsert', id, version, doc: { ...chat(id, version), version } });
  await replica.applyPage({ changes: [change('a', 1), change('b', 2)], cursor: 'c2' });
  assert.equal(await replica.getMeta('cursor'), 'c2');
  await replica.applyPage({ changes: [change('a', 1)], cursor: 'c1' }); // an older page, late
  assert.equal(await replica.getMeta('cursor'), 'c2');
  await replica.applyPage({ changes: [], cursor: 'c1' }); // an empty long-poll of the older cursor
  assert.equal(await replica.getMeta('cursor'), 'c2');
  await replica.applyPage({ changes: [change('c', 3)], cursor: 'c3' });
  assert.equal(await replica.getMeta('cursor'), 'c3');
  assert.equal(await replica.getMeta('lastVersion'), 3);
  replica.close();
});

test('the stored chat list snapshot is dropped by every chat write: a page, an acknowledged write', async () => {
  const { IDBFactory } = await import('fake-indexeddb');
  const { openReplica } = await import('../replica.js');
  const replica = await openReplica('u1', new IDBFactory());
  const doc = (id, version, title) => ({ ...chat(id, 1), title, version });
  await replica.applyPage({ changes: [{ table: 'chats', id: 'a', version: 1, doc: doc('a', 1, 'one') }], cursor: '1' });
  assert.deepEqual((await replica.chatsNewestFirst()).chats.map((c) => c.title), ['one']);
  assert.ok(await replica.getMeta('chatList'), 'stored by the read');
  await replica.applyPage({ changes: [{ table: 'chats', id: 'a', version: 2, doc: doc('a', 2, 'two') }], cursor: '2' });
  assert.equal(await replica.getMeta('chatList'), undefined);
  assert.deepEqual((await replica.chatsNewestFirst()).chats.map((c) => c.title), ['two']);
  const seq = await replica.enqueue({ name: 'updateChat', args: { chatId: 'a', title: 'three' }, docId: 'a' });
  await replica.acknowledge(seq, [{ table: 'chats', doc: doc('a', 3, 'three') }]);
  assert.deepEqual((await replica.chatsNewestFirst()).chats.map((c) => c.title), ['three']);
  replica.close();
});
