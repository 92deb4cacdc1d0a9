// Two tabs (two clients on one database and one BroadcastChannel name): one
// sends the outbox, both update live, and a write's promise settles in its tab.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IDBFactory } from 'fake-indexeddb';
import { createTabs } from '../tabs.js';
import { controlledSse, fakeServer, makeClient, until, watcher } from './helpers.js';

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

test('two tabs: only the leader holds a live stream; the other tab updates live and shows online', async (t) => {
  const server = fakeServer();
  const streams = [];
  server.script.push(Object.assign((req) => {
    if (req.headers.Accept !== 'text/event-stream') return undefined;
    const s = controlledSse(req);
    streams.push({ req, ...s });
    return s.res;
  }, { keep: true }));
  const indexedDB = new IDBFactory();
  const tabA = makeClient(server, 'u1', { indexedDB, BroadcastChannel, autoStart: true });
  const tabB = makeClient(server, 'u1', { indexedDB, BroadcastChannel, autoStart: true });
  t.after(() => Promise.all([tabA.close(), tabB.close()]));
  await until(() => tabA.status.leader !== tabB.status.leader, 'exactly one leader', 8000);
  await until(() => streams.length === 1, 'a stream');
  const [leader, follower] = tabA.status.leader ? [tabA, tabB] : [tabB, tabA];
  await until(() => follower.status.connection === 'online', 'the follower shows the leader\'s connection');
  const w = watcher();
  follower.watchChats(w.cb);
  await until(() => w.value, 'first render');
  const chat = { id: 'c', userId: 'u1', title: 'from elsewhere', timestamp: 1, parentChatId: null, branchFromMessageId: null, branches: [], isDeleted: false, version: 1 };
  streams[0].send(`event: changes\ndata: ${JSON.stringify({ changes: [{ table: 'chats', op: 'upsert', id: 'c', version: 1, doc: chat }], cursor: '1', hasMore: false })}\n\n`);
  await until(() => w.value.length === 1, 'the follower shows the change');
  assert.equal(w.value[0].title, 'from elsewhere');
  assert.equal(streams.length, 1, 'one stream for both tabs');
  assert.ok(streams.every((s) => s.req.sub === 'u1'));
  // the leader goes: the other tab takes over the stream
  await leader.close();
  await until(() => streams.length === 2 && follower.status.leader, 'the other tab leads and streams', 10000);
  assert.ok(streams[0].req.signal.aborted, 'the closed tab\'s stream is closed');
});

// A tab's timers, pausable as a browser throttles a background tab's, beating
// every 40 ms instead of every second.
function pausableTimers() {
  const t = { paused: false, heartbeatMs: 40, now: Date.now, clearInterval };
  t.setInterval = (fn, ms) => setInterval(() => !t.paused && fn(), ms);
  return t;
}

test('without Web Locks: a leader whose timer stalls (a throttled tab) stops leading before another takes over; never two at once', async () => {
  const name = `lease-${Date.now()}`;
  const timers = [pausableTimers(), pausableTimers()];
  const tabs = timers.map((tm) => createTabs({ name, BroadcastChannel, locks: null, onMessage() {}, onLeader() {}, timers: tm }));
  let both = 0;
  const sampler = setInterval(() => { if (tabs[0].leader && tabs[1].leader) both++; }, 2);
  try {
    await until(() => tabs[0].leader !== tabs[1].leader, 'one leader');
    const first = tabs[0].leader ? 0 : 1;
    timers[first].paused = true;
    await until(() => tabs[1 - first].leader, 'the other takes over');
    assert.equal(tabs[first].leader, false, 'the stalled tab no longer counts as leader');
    // the stalled tab wakes up: it must not lead again while the other does
    timers[first].paused = false;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(tabs[1 - first].leader, true);
    assert.equal(tabs[first].leader, false);
    assert.equal(both, 0, 'two leaders at once');
  } finally {
    clearInterval(sampler);
    for (const tab of tabs) tab.close();
  }
});

// Review F2: the overlap of two senders. Tab A's PATCH is slow; tab B sends the
// same entry and then the user's next edit (back to the old value). A's late
// 412 must not put the entry B already settled back into the outbox.
test('a late 412 of an entry another tab already acknowledged does not queue it again: the last edit stays', async (t) => {
  const server = fakeServer();
  const u = server.user('u1');
  server.write(u, 'chats', { id: 'c', userId: 'u1', title: 'orig', timestamp: 1, parentChatId: null, branchFromMessageId: null, branches: [], isDeleted: false });
  server.write(u, 'messages', { id: 'm', chatId: 'c', userId: 'u1', content: 'O', role: 'user', timestamp: 1, position: 0, attachments: null, isDeleted: false });
  const indexedDB = new IDBFactory();
  const a = makeClient(server, 'u1', { indexedDB });
  t.after(() => a.close());
  await a.sync();
  let open;
  const gate = new Promise((r) => (open = r));
  let held = false;
  server.script.push(async (req) => {
    if (req.method !== 'PATCH' || held) return undefined;
    held = true;
    await gate; // A's request is slow, then reaches the server
    return undefined;
  });
  const errors = [];
  a.on('error', (e) => errors.push(e));
  a.updateMessage({ messageId: 'm', content: 'A' }).catch(() => {});
  a.updateMessage({ messageId: 'm', content: 'O' }).catch(() => {}); // the user undoes
  await until(() => held, 'A sends the first edit (held)');
  const b = makeClient(server, 'u1', { indexedDB }); // a second sender on the same outbox
  t.after(() => b.close());
  await until(() => u.messages.get('m').content === 'O' && u.messages.get('m').version === 4, 'B sent both');
  const syncs = () => server.requests.filter((r) => r.path === '/api/sync').length;
  const before = syncs();
  open();
  await until(() => syncs() > before, "A's catch-up after its 412"); // B syncs only when asked

  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await a.flush(1000).then(() => 'empty'), 'empty');
  assert.equal(u.messages.get('m').content, 'O', 'the last edit wins');
  assert.equal(u.messages.get('m').version, 4, 'nothing sent after it');
  assert.equal(errors.length, 0, 'settled by B: nothing reported by A');
});
