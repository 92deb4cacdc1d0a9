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

// Review F3: only the leader asks for tokens on its own; a follower must still
// stop when the app's token becomes another user's. With Web Locks the leader
// must also let go, or no tab of this replica would ever notice anything again.
test('a user switch noticed by the leader blanks every tab; a follower refuses writes; the lock is released', async (t) => {
  const server = fakeServer();
  const u = server.user('u1');
  server.write(u, 'chats', { id: 'c', userId: 'u1', title: 'orig', timestamp: 1, parentChatId: null, branchFromMessageId: null, branches: [], isDeleted: false });
  const indexedDB = new IDBFactory();
  let who = 'u1';
  const getToken = async () => token(who);
  // Web Locks: one holder; the others wait until it releases
  const waiting = [];
  let holder = null;
  const locks = {
    request: (name, cb) => new Promise((resolve) => {
      const grant = () => {
        holder = cb;
        cb().then(() => {
          holder = null;
          resolve();
          if (waiting.length) waiting.shift()();
        });
      };
      if (holder) waiting.push(grant);
      else grant();
    }),
  };
  const opts = { indexedDB, userId: 'u1', getToken, BroadcastChannel, locks };
  const leader = makeClient(server, 'u1', opts);
  t.after(() => leader.close());
  await until(() => leader.status.leader, 'the first tab leads');
  await leader.sync();
  const follower = makeClient(server, 'u1', opts);
  t.after(() => follower.close());
  const wf = watcher();
  follower.watchChats(wf.cb);
  await until(() => wf.value && wf.value.length === 1, "the follower shows u1's chat");
  const errors = [];
  follower.on('error', (e) => errors.push(e.code));
  who = 'u2';
  await leader.sync().catch(() => {});
  await until(() => wf.value.length === 0, 'the follower is blanked');
  assert.equal(follower.status.connection, 'offline');
  assert.ok(errors.includes('user_changed'));
  assert.equal(holder, null, 'no tab holds the lock: the leader let go, the follower did not take it');
  await assert.rejects(follower.createChat({ title: 'written by u2' }), (e) => e.code === 'user_changed');
  assert.equal(follower.status.pending, 0);
});

test('a follower that has heard nothing checks the token before queueing a write', async (t) => {
  const server = fakeServer();
  const indexedDB = new IDBFactory();
  let who = 'u1';
  const tab = makeClient(server, 'u1', { indexedDB, userId: 'u1', getToken: async () => token(who) });
  t.after(() => tab.close());
  await tab.ready;
  who = 'u2';
  await assert.rejects(tab.createChat({ title: 'x' }), (e) => e.code === 'user_changed');
  assert.equal(tab.status.pending, 0, "nothing in u1's outbox");
});

test('writes waiting for an answer reject with user_changed when the user changes', async (t) => {
  const server = fakeServer();
  let who = 'u1';
  server.script.push(Object.assign(() => new TypeError('fetch failed'), { keep: true })); // offline
  const tab = makeClient(server, 'u1', { userId: 'u1', getToken: async () => token(who) });
  t.after(() => tab.close());
  const p = tab.createChat({ title: 'x' });
  await until(() => tab.status.pending === 1, 'queued');
  who = 'u2';
  tab.sync().catch(() => {});
  await assert.rejects(p, (e) => e.code === 'user_changed');
});

test('a getToken that does not answer is waited for by one write, not again by each write after it', async (t) => {
  const server = fakeServer();
  let hang = false;
  let hung = 0;
  const tab = makeClient(server, 'u1', { userId: 'u1', getToken: () => (hang ? (hung++, new Promise(() => {})) : Promise.resolve(token('u1'))) });
  t.after(() => tab.close());
  await tab.ready;
  hang = true;
  for (let i = 0; i < 4; i++) tab.createChat({ title: `t${i}` }).catch(() => {});
  await until(() => tab.status.pending === 4, 'all four queued', 10000);
  // one call shared by the writes' checks, and at most one by the sender
  assert.ok(hung <= 2, `getToken called ${hung} times`);
});
