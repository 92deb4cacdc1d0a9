// One user's replica is never shown to another: a database per user, and a
// client refuses a token for a different user than its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IDBFactory } from 'fake-indexeddb';
import { fakeServer, makeClient, token, until, watcher } from './helpers.js';

test('two users on one browser each see only their own replica', async () => {
  const server = fakeServer();
  const indexedDB = new IDBFactory();
  const alice = makeClient(server, 'alice', { indexedDB });
  await alice.createChat({ title: "alice's secret" });
  await alice.close();

  // Bob signs in on the same browser, with the network down: only his (empty) replica.
  server.script.push(Object.assign(() => new TypeError('fetch failed'), { keep: true }));
  const bob = makeClient(server, 'bob', { indexedDB });
  assert.deepEqual(await bob.getChats(), []);
  await bob.close();

  const names = (await indexedDB.databases()).map((d) => d.name).sort();
  assert.deepEqual(names, ['chatsync:alice', 'chatsync:bob']);

  server.script.length = 0;
  const again = makeClient(server, 'alice', { indexedDB });
  assert.deepEqual((await again.getChats()).map((c) => c.title), ["alice's secret"]);
  await again.close();
});

test('a token for another user is never sent by a client bound to the first', async (t) => {
  const server = fakeServer();
  let who = 'alice';
  const client = makeClient(server, 'alice', { getToken: async () => token(who) });
  t.after(() => client.close());
  await client.ready;
  who = 'bob';
  const errors = [];
  client.on('error', (e) => errors.push(e));
  await assert.rejects(client.sync(), (err) => err.code === 'user_changed');
  assert.ok(server.requests.every((r) => r.sub === 'alice'));
});

test('a token for another user (a stale userId option): the views go blank and the outbox stops', async (t) => {
  const server = fakeServer();
  const indexedDB = new IDBFactory();
  // alice's replica, with a write not sent yet
  server.script.push(Object.assign(() => new TypeError('fetch failed'), { keep: true }));
  const alice = makeClient(server, 'alice', { indexedDB });
  alice.createChat({ title: "alice's secret" }).catch(() => {});
  await until(() => alice.status.pending === 1, 'queued');
  await alice.close();
  server.script.length = 0;

  // bob signs in on this browser, but the app still passes alice's id
  const client = makeClient(server, 'alice', { indexedDB, userId: 'alice', getToken: async () => token('bob'), autoStart: true });
  t.after(() => client.close());
  const errors = [];
  client.on('error', (e) => errors.push(e));
  const w = watcher();
  client.watchChats(w.cb);
  await until(() => errors.some((e) => e.code === 'user_changed'), 'user_changed reported');
  await until(() => w.value && w.value.length === 0, 'blank');
  assert.deepEqual(await client.getChats(), []);
  assert.equal(client.status.connection, 'offline');
  await assert.rejects(client.createChat({ title: 'for bob?' }), (err) => err.code === 'user_changed');
  assert.ok(server.requests.every((r) => r.sub !== 'bob'), 'nothing sent with bob\'s token');
  // alice's write is kept (for alice's next sign-in), not dropped
  await client.close();
  const back = makeClient(server, 'alice', { indexedDB });
  await back.flush();
  assert.deepEqual([...server.user('alice').chats.values()].map((c) => c.title), ["alice's secret"]);
  await back.close();
});
