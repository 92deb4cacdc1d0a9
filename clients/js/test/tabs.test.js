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

// navigator.locks as a browser gives it: one holder per name, the next in line
// gets it when the holder's callback settles.
function fakeLocks() {
  const queues = new Map();
  return {
    request(name, cb) {
      return new Promise((resolve) => {
        const run = () => Promise.resolve(cb()).then((v) => {
          queues.get(name).shift();
          if (queues.get(name).length) queues.get(name)[0]();
          resolve(v);
        });
        if (!queues.has(name)) queues.set(name, []);
        queues.get(name).push(run);
        if (queues.get(name).length === 1) run();
      });
    },
  };
}

test('with Web Locks: the lock holder sends; when its tab closes, the other tab takes over the outbox', async () => {
  const server = fakeServer();
  const indexedDB = new IDBFactory();
  const locks = fakeLocks();
  const tabA = makeClient(server, 'u1', { indexedDB, BroadcastChannel, locks });
  await until(() => tabA.status.leader, 'A leads');
  const tabB = makeClient(server, 'u1', { indexedDB, BroadcastChannel, locks });
  await tabB.ready;
  assert.equal(tabB.status.leader, false);

  let open;
  const gate = new Promise((resolve) => (open = resolve));
  server.script.push(async () => {
    await gate;
    return new TypeError('fetch failed'); // A's send never gets an answer
  });
  const p = tabB.createChat({ title: 'made in B' });
  await until(() => server.requests.length >= 1, 'A sends B\'s write');
  await tabA.close();
  open();
  await until(() => tabB.status.leader, 'B leads');
  assert.equal((await p).title, 'made in B');
  assert.equal(server.user('u1').chats.size, 1);
  await tabB.close();
});
