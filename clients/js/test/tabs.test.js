// Two tabs (two clients on one database and one BroadcastChannel name): one
// sends the outbox, both update live, and a write's promise settles in its tab.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IDBFactory } from 'fake-indexeddb';
import { fakeServer, makeClient, until, watcher } from './helpers.js';

test('two tabs: one leader sends every write once, both tabs see every write live', async (t) => {
  const server = fakeServer();
  const indexedDB = new IDBFactory();
  const tabA = makeClient(server, 'u1', { indexedDB, BroadcastChannel });
  const tabB = makeClient(server, 'u1', { indexedDB, BroadcastChannel });
  t.after(() => Promise.all([tabA.close(), tabB.close()]));
  await until(() => tabA.status.leader !== tabB.status.leader, 'exactly one leader', 8000);

  const wa = watcher();
  const wb = watcher();
  tabA.watchChats(wa.cb);
  tabB.watchChats(wb.cb);
  const fromA = tabA.createChat({ title: 'from A' });
  const fromB = tabB.createChat({ title: 'from B' });
  await until(() => wa.value?.length === 2 && wb.value?.length === 2, 'both tabs show both chats');
  const [a, b] = await Promise.all([fromA, fromB]);
  assert.equal(a.title, 'from A');
  assert.equal(b.title, 'from B');
  assert.equal(server.writes().length, 2, 'each write sent once');
  await until(() => wb.value.every((c) => !c.pending) && wa.value.every((c) => !c.pending), 'acknowledged in both tabs');
});
