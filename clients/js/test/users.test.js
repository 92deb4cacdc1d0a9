// One user's replica is never shown to another: a database per user, and a
// client refuses a token for a different user than its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IDBFactory } from 'fake-indexeddb';
import { fakeServer, makeClient, token, until } from './helpers.js';

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
