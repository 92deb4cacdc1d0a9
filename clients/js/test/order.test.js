// The chat list's order comes from the replica's byTime index ([timestamp, id],
// read backwards): it must be the API's order (compareChats: newest first, then
// id descending), also for a database made by the first schema (upgrade), and a
// chat the index cannot hold (no timestamp) must still be listed.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareChats } from '../mutators.js';
import { openReplica, replicaName } from '../replica.js';
import { chatsView } from '../views.js';

const chat = (id, timestamp, extra = {}) => ({ id, userId: 'u1', title: id, timestamp, branches: [], isDeleted: false, version: 1, ...extra });

test('chatsNewestFirst reads the API order from the index: timestamp descending, then id descending', async () => {
  const replica = await openReplica('u1', new IDBFactory());
  const docs = [chat('c_b', 5), chat('c_a', 5), chat('c_c', 5), chat('c_z', 1), chat('c_y', 9), chat('c_x', 1e12)];
  await replica.applyPage({ changes: docs.map((doc) => ({ table: 'chats', id: doc.id, version: 1, doc })), cursor: '1' });
  const { chats, sorted, outbox } = await replica.chatsNewestFirst();
  assert.equal(sorted, true);
  assert.deepEqual(outbox, []);
  assert.deepEqual(chats.map((c) => c.id), ['c_x', 'c_y', 'c_c', 'c_b', 'c_a', 'c_z']);
  assert.deepEqual(chats.map((c) => c.id), [...docs].sort(compareChats).map((c) => c.id));
  replica.close();
});

test('a chat without a timestamp is not in the index: the list still has it, sorted in JS', async () => {
  const replica = await openReplica('u1', new IDBFactory());
  const docs = [chat('c_a', 2), chat('c_b', undefined), chat('c_c', 3), chat('c_d', 1, { isDeleted: true })];
  await replica.applyPage({ changes: docs.map((doc) => ({ table: 'chats', id: doc.id, version: 1, doc })), cursor: '1' });
  const read = await replica.chatsNewestFirst();
  assert.equal(read.sorted, false);
  assert.equal(read.chats.length, 4);
  const view = await chatsView(replica, 'u1');
  assert.deepEqual(view.map((c) => c.id).sort(), ['c_a', 'c_b', 'c_c']);
  replica.close();
});

test('a pending write is laid over the index order and the list re-sorted', async () => {
  const replica = await openReplica('u1', new IDBFactory());
  const docs = [chat('c_a', 1), chat('c_b', 2)];
  await replica.applyPage({ changes: docs.map((doc) => ({ table: 'chats', id: doc.id, version: 1, doc })), cursor: '1' });
  await replica.enqueue({ name: 'createChat', args: { id: 'c_new', title: 'new', timestamp: 3 }, docId: 'c_new', baseVersion: 0 });
  const view = await chatsView(replica, 'u1');
  assert.deepEqual(view.map((c) => c.id), ['c_new', 'c_b', 'c_a']);
  assert.equal(view[0].pending, true);
  replica.close();
});

test('a replica made by schema version 1 is upgraded to 3: the index is built from the chats it holds', async () => {
  const factory = new IDBFactory();
  await new Promise((resolve, reject) => {
    const req = factory.open(replicaName('u1'), 1);
    req.onupgradeneeded = () => {
      const db = req.result;
      const chats = db.createObjectStore('chats', { keyPath: 'id' });
      db.createObjectStore('messages', { keyPath: 'id' }).createIndex('chatId', 'chatId');
      db.createObjectStore('meta').put('7', 'cursor');
      db.createObjectStore('outbox', { keyPath: 'seq', autoIncrement: true });
      for (const doc of [chat('c_old', 1), chat('c_new', 2)]) chats.put(doc);
    };
    req.onsuccess = () => { req.result.close(); resolve(); };
    req.onerror = () => reject(req.error);
  });
  const replica = await openReplica('u1', factory);
  assert.equal(replica.db.version, 3);
  assert.equal(await replica.getMeta('cursor'), '7');
  const { chats, sorted } = await replica.chatsNewestFirst();
  assert.equal(sorted, true);
  assert.deepEqual(chats.map((c) => c.id), ['c_new', 'c_old']);
  replica.close();
});

// Review F4: the chat list snapshot came with schema 2's library but not with
// a schema version of its own, so a tab of the library before it (same schema,
// no snapshot) wrote chats and left the snapshot stale. At version 3 the
// upgrade drops it, and such a tab's connection is closed by the upgrade
// (versionchange): it can no longer write.
test('a chat list snapshot left stale at schema 2 is dropped by the upgrade to 3, and a tab of schema 2 can no longer write', async () => {
  const factory = new IDBFactory();
  const old = await new Promise((resolve, reject) => {
    const req = factory.open(replicaName('u1'), 2);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore('chats', { keyPath: 'id' }).createIndex('byTime', ['timestamp', 'id']);
      db.createObjectStore('messages', { keyPath: 'id' }).createIndex('chatId', 'chatId');
      const meta = db.createObjectStore('meta');
      db.createObjectStore('outbox', { keyPath: 'seq', autoIncrement: true });
      // the snapshot as a newer schema-2 tab stored it; then a tab of the
      // earlier library stored the chat's deletion without dropping it
      meta.put([chat('c', 1)], 'chatList');
      req.transaction.objectStore('chats').put(chat('c', 1, { isDeleted: true, version: 2 }));
    };
    req.onsuccess = () => {
      // as every library since the first: closes when a newer one upgrades
      req.result.onversionchange = () => req.result.close();
      resolve(req.result);
    };
    req.onerror = () => reject(req.error);
  });
  const replica = await openReplica('u1', factory);
  assert.equal(replica.db.version, 3);
  assert.deepEqual(await chatsView(replica, 'u1'), [], 'the deleted chat is not listed');
  assert.throws(() => old.transaction('chats', 'readwrite'), (e) => e.name === 'InvalidStateError');
  replica.close();
});
