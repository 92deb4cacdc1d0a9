// The local replica: one IndexedDB database per user ("chatsync:<userId>"), so
// that one user's data is never read for another. It holds the documents as the
// server sent them (stores chats and messages), where the sync feed stands (meta:
// cursor, lastVersion, deviceId) and the durable outbox of writes not yet
// acknowledged (store outbox, in order of seq). Optimistic state is not stored
// here: views lay the outbox over these documents (see views.js).

import { wrap } from 'idb';
import { madeOn } from './mutators.js';
import { withChunks } from './streams.js';

// 1: the stores. 2: chats' index byTime on [timestamp, id], the API's order
// (newest first is this index read backwards); an upgrade from 1 builds it from
// the chats already stored. 3: the chat list snapshot (meta chatList) is trusted
// only at this version: a tab of an older library, which writes chats without
// dropping it, has its connection closed by this upgrade (versionchange), and
// the upgrade drops a snapshot such a tab may have left stale.
const DB_VERSION = 3;
// The meta key of the chat list snapshot (see chatsNewestFirst).
const CHAT_LIST = 'chatList';

export function replicaName(userId) {
  return `chatsync:${userId}`;
}

export async function openReplica(userId, factory) {
  if (!factory) throw new Error('no IndexedDB: pass createClient({ indexedDB })');
  const request = factory.open(replicaName(userId), DB_VERSION);
  request.addEventListener('upgradeneeded', (event) => {
    const db = request.result;
    if (event.oldVersion < 1) {
      db.createObjectStore('chats', { keyPath: 'id' });
      db.createObjectStore('messages', { keyPath: 'id' }).createIndex('chatId', 'chatId');
      db.createObjectStore('meta');
      db.createObjectStore('outbox', { keyPath: 'seq', autoIncrement: true });
    }
    if (event.oldVersion < 2) request.transaction.objectStore('chats').createIndex('byTime', ['timestamp', 'id']);
    if (event.oldVersion < 3) request.transaction.objectStore('meta').delete(CHAT_LIST);
  });
  const db = await wrap(request);
  // Another tab upgrading (a newer library) must not be blocked by this one.
  db.addEventListener('versionchange', () => db.close());
  return createReplica(db);
}

// The error IndexedDB gives for a connection that was closed (by another tab's
// upgrade or delete, see versionchange above): no retry can succeed on it.
export function isReplicaClosed(err) {
  return !!err && err.name === 'InvalidStateError';
}

export function deleteReplica(userId, factory = globalThis.indexedDB) {
  return wrap(factory.deleteDatabase(replicaName(userId)));
}

// A document from the server replaces ours only when it is newer: the feed, a
// write's answer and a replay may arrive in any order. A newer document of a
// message still streaming whose streamSeq is below ours (a window written while
// chunks came) changes the other fields, not the longer text (docs/API.md).
async function putNewer(store, doc) {
  const have = await store.get(doc.id);
  if (have && have.version >= doc.version) return;
  const longer = have && have.streamState === 'streaming' && doc.streamState === 'streaming' && have.streamSeq > doc.streamSeq;
  await store.put(longer ? { ...doc, content: have.content, streamSeq: have.streamSeq } : doc);
}

// An outbox entry with the ids in renames replaced (the same entry if none is).
function renamed(entry, renames) {
  const to = (id) => (renames.has(id) ? renames.get(id) : id);
  const args = { ...entry.args };
  for (const k of ['messageId', 'fromMessageId']) if (args[k] !== undefined) args[k] = to(args[k]);
  const docId = to(entry.docId);
  if (docId === entry.docId && ['messageId', 'fromMessageId'].every((k) => args[k] === entry.args[k])) return entry;
  return { ...entry, docId, args };
}

function createReplica(db) {
  return {
    db,
    close: () => db.close(),

    getMeta: (key) => db.get('meta', key),
    setMeta: (key, value) => db.put('meta', value, key),

    async chats() {
      return db.getAll('chats');
    },
    // What the chat list needs, in one transaction: every chat, newest first
    // (timestamp then id, descending) as the byTime index gives them, and the
    // outbox. A chat whose timestamp is not a valid key is not in the index:
    // then (count differs) all chats come unsorted, and sorted is false.
    // The sorted list is kept as one record (meta "chatList"), so that the
    // first render after a reload reads one value, not 1,000; every write of a
    // chat deletes it (dropChatList), and the next read here stores it again.
    async chatsNewestFirst() {
      const read = db.transaction(['meta', 'outbox']);
      const [snapshot, queued] = await Promise.all([read.objectStore('meta').get(CHAT_LIST), read.objectStore('outbox').getAll()]);
      if (snapshot) return { chats: snapshot, sorted: true, outbox: queued };
      const tx = db.transaction(['chats', 'meta', 'outbox'], 'readwrite');
      const chats = tx.objectStore('chats');
      const [ordered, total, outbox] = await Promise.all([
        chats.index('byTime').getAll(), chats.count(), tx.objectStore('outbox').getAll(),
      ]);
      if (ordered.length !== total) return { chats: await chats.getAll(), sorted: false, outbox };
      ordered.reverse();
      await tx.objectStore('meta').put(ordered, CHAT_LIST);
      await tx.done;
      return { chats: ordered, sorted: true, outbox };
    },
    async chat(id) {
      return db.get('chats', id);
    },
    async message(id) {
      return db.get('messages', id);
    },
    async messagesOf(chatId) {
      return db.getAllFromIndex('messages', 'chatId', chatId);
    },

    // One page of the sync feed, in one transaction: the documents and the
    // cursor move together, so a crash never leaves a cursor past missing data.
    // The cursor never moves back: it is opaque, so a page moves it only when it
    // holds a version past the highest stored (a late answer to an older request
    // does not), or when there is none yet. force: the page was read from the
    // stored cursor (a resync after a gap in a stream's chunks), and its cursor
    // (a plain delta's, with no chunks sent in it) replaces the stored one.
    async applyPage({ changes = [], cursor }, force = false) {
      const tx = db.transaction(['chats', 'messages', 'meta'], 'readwrite');
      const meta = tx.objectStore('meta');
      const before = (await meta.get('lastVersion')) || 0;
      let last = before;
      const newest = changes.reduce((v, c) => (c.version > v ? c.version : v), 0);
      const moves = force || (changes.length ? newest > before : (await meta.get('cursor')) == null);
      if (changes.some((c) => c.table === 'chats')) await meta.delete(CHAT_LIST);
      for (const change of changes) {
        if (change.table !== 'chats' && change.table !== 'messages') continue;
        const store = tx.objectStore(change.table);
        const doc = change.doc || { ...(await store.get(change.id)), id: change.id, isDeleted: true };
        await putNewer(store, { ...doc, version: change.version ?? doc.version });
        if (change.version > last) last = change.version;
      }
      if (cursor != null && moves) await meta.put(String(cursor), 'cursor');
      if (newest > last) last = newest;
      await meta.put(last, 'lastVersion');
      await tx.done;
      return { changed: changes.length > 0, lastVersion: last };
    },

    // Streamed replies' chunks ([[messageId, chunks]], each list in seq order)
    // and the cursor of the last (the server's, as given: it carries the chunks
    // sent), in one transaction. Chunks of a message not streaming any more, or
    // past a gap, are not stored. Returns [[messageId, streamSeq stored]].
    async applyChunks(entries, cursor) {
      const tx = db.transaction(['messages', 'meta'], 'readwrite');
      const store = tx.objectStore('messages');
      const stored = [];
      for (const [id, chunks] of entries) {
        const doc = await store.get(id);
        const next = withChunks(doc, chunks);
        if (next !== doc) await store.put(next);
        stored.push([id, next && next.streamState === 'streaming' ? next.streamSeq : Infinity]);
      }
      if (cursor != null) await tx.objectStore('meta').put(String(cursor), 'cursor');
      await tx.done;
      return stored;
    },

    async outbox() {
      return db.getAll('outbox');
    },
    async outboxCount() {
      return db.count('outbox');
    },
    async firstOutbox() {
      const cursor = await db.transaction('outbox').store.openCursor();
      return cursor ? cursor.value : undefined;
    },
    // Returns the entry's seq (its place in the queue). With table, rebase(doc,
    // outbox) runs first in the same transaction with the stored document and
    // the queue, and sets the entry's base: so an acknowledgement (which moves
    // later entries' base version) can never fall between the read and the add.
    async enqueue(entry, table, rebase) {
      const tx = db.transaction(['chats', 'messages', 'outbox'], 'readwrite');
      const outbox = tx.objectStore('outbox');
      if (table) {
        const [doc, queued] = await Promise.all([tx.objectStore(table).get(entry.docId), outbox.getAll()]);
        rebase(doc, queued);
      }
      const seq = await outbox.add(entry);
      await tx.done;
      return seq;
    },
    // An entry rewritten (a 412's resend), only while it is still queued: another
    // tab sending the same outbox (the leaders' overlap) may have settled it, and
    // putting it back would send it again after the writes made later.
    // Returns whether it was.
    async updateOutbox(entry) {
      const tx = db.transaction('outbox', 'readwrite');
      const there = (await tx.store.count(entry.seq)) > 0;
      if (there) await tx.store.put(entry);
      await tx.done;
      return there;
    },

    // A write the server acknowledged: its documents go in, its entry goes out,
    // all in one transaction. A later write of ours to one of these documents
    // now builds on the new version when every field it sets had, when it was
    // made, the value the server answered (madeOn): it was made on top of this
    // write as it was stored. Otherwise (a 412 dropped one of our fields, or the
    // document holds another device's newer edit) it keeps its version, gets a
    // 412 and goes through the 412 rule. renames (local id -> server id: a
    // branch's copies) rewrite later writes naming them. Returns false, and
    // changes nothing, if the entry was no longer queued (another tab settled it).
    async acknowledge(seq, docs, renames) {
      const tx = db.transaction(['chats', 'messages', 'outbox', 'meta'], 'readwrite');
      if (!(await tx.objectStore('outbox').count(seq))) {
        await tx.done;
        return false;
      }
      if (docs.some((d) => d.table === 'chats')) await tx.objectStore('meta').delete(CHAT_LIST);
      const answered = new Map();
      for (const { table, doc } of docs) {
        await putNewer(tx.objectStore(table), doc);
        answered.set(doc.id, doc);
      }
      await tx.objectStore('outbox').delete(seq);
      let cursor = await tx.objectStore('outbox').openCursor();
      while (cursor) {
        let entry = renames && renames.size ? renamed(cursor.value, renames) : cursor.value;
        const doc = answered.get(entry.docId);
        if (doc && entry.baseVersion !== doc.version && madeOn(entry, doc)) entry = { ...entry, baseVersion: doc.version };
        if (entry !== cursor.value) await cursor.update(entry);
        cursor = await cursor.continue();
      }
      await tx.done;
      return true;
    },
    // Writes the server refused (one, or one with the writes that depended on
    // it): dropping their entries, in one transaction, is the rollback. Returns
    // false, and drops nothing, if the first (the one refused) was no longer
    // queued: another tab settled it, and the rest with it.
    async discard(seqs) {
      const [first, ...rest] = [].concat(seqs);
      const tx = db.transaction('outbox', 'readwrite');
      const there = (await tx.store.count(first)) > 0;
      if (there) await Promise.all([first, ...rest].map((seq) => tx.store.delete(seq)));
      await tx.done;
      return there;
    },
  };
}
