// Streamed replies: chunk events and long-poll chunks applied by the rules of
// docs/API.md (order, duplicates, gaps, windows, the final document), the
// server's cursor kept as given, a reload mid-stream, and a follower tab.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IDBFactory } from 'fake-indexeddb';
import { controlledSse, fakeServer, makeClient, token, until, watcher } from './helpers.js';

const isStream = (req) => req.headers.Accept === 'text/event-stream';

// A user with chat c and a streaming reply m whose first text is "Hi".
function setup() {
  const server = fakeServer();
  const u = server.user('u1');
  server.write(u, 'chats', { id: 'c', userId: 'u1', title: 't', timestamp: 1, parentChatId: null, branchFromMessageId: null, branches: [], isDeleted: false });
  server.write(u, 'messages', { id: 'm', chatId: 'c', userId: 'u1', content: 'Hi', role: 'assistant', timestamp: 2, position: 0, attachments: null, isDeleted: false, streamState: 'streaming', streamSeq: 0 });
  // Each SSE request gets a stream the test writes into.
  const streams = [];
  server.script.push(Object.assign((req) => {
    if (!isStream(req)) return undefined;
    const s = controlledSse(req);
    streams.push({ req, send: s.send });
    return s.res;
  }, { keep: true }));
  // chunk n's text, appended by the app's server; returns its SSE event
  const chunk = (seq, text) => {
    u.chunks.push({ messageId: 'm', chatId: 'c', seq, text });
    return server.chunkEvent(u, u.chunks[u.chunks.length - 1]);
  };
  return { server, u, streams, chunk };
}

const contentOf = (chat) => chat && chat.messages.find((m) => m.id === 'm').content;

test('chunks grow the message in order; a duplicate is ignored; a window below what the client has keeps the longer text; the final document replaces it', async (t) => {
  const { server, u, streams, chunk } = setup();
  const client = makeClient(server, 'u1', { autoStart: true });
  t.after(() => client.close());
  const seen = [];
  const w = watcher();
  client.watchChat('c', (v) => {
    w.cb(v);
    if (v) seen.push(contentOf(v));
  });
  await until(() => streams.length === 1, 'stream');
  const one = chunk(1, ' there');
  streams[0].send(one);
  await until(() => contentOf(w.value) === 'Hi there', 'chunk 1 shown');
  streams[0].send(one); // a duplicate (the API's race at the open of a request)
  const two = chunk(2, ', you');
  streams[0].send(two);
  await until(() => contentOf(w.value) === 'Hi there, you', 'chunk 2 shown');
  // a window with chunk 1 only, written while chunks came: other fields change, not the text
  server.window(u, 'm');
  u.messages.get('m').streamSeq = 1;
  u.messages.get('m').content = 'Hi there';
  const win = server.page(u, '2', 500);
  win.changes[0].doc = { ...u.messages.get('m'), timestamp: 99 };
  streams[0].send(server.changesEvent(u, win));
  await until(() => w.value.messages[0].timestamp === 99, 'window applied');
  assert.equal(contentOf(w.value), 'Hi there, you');
  const three = chunk(3, '!');
  streams[0].send(three);
  await until(() => contentOf(w.value) === 'Hi there, you!', 'chunk 3 shown');
  // the end: a final document replaces the text, whatever the chunks held
  const final = server.write(u, 'messages', { ...u.messages.get('m'), content: 'Hi there, you! (edited)', streamSeq: 3, streamState: 'complete' });
  streams[0].send(server.changesEvent(u, server.page(u, String(final.version - 1), 500)));
  await until(() => w.value.messages[0].streamState === 'complete', 'final shown');
  assert.equal(contentOf(w.value), 'Hi there, you! (edited)');
  // a late chunk of an ended message changes nothing
  streams[0].send(server.chunkEvent(u, { messageId: 'm', chatId: 'c', seq: 4, text: 'late' }));
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(contentOf(await client.getChat('c')), 'Hi there, you! (edited)');
  // the view grew through every step, never out of order
  const steps = ['Hi there', 'Hi there, you', 'Hi there, you!', 'Hi there, you! (edited)'];
  assert.deepEqual([...new Set(seen)].filter((x) => x !== 'Hi'), steps);
  assert.equal(streams.length, 1, 'no reconnect');
});

test('the stored cursor is the last chunk event\'s id exactly, written with the chunks', async (t) => {
  const { server, streams, chunk } = setup();
  const client = makeClient(server, 'u1', { autoStart: true });
  t.after(() => client.close());
  await until(() => streams.length === 1, 'stream');
  streams[0].send(chunk(1, ' a') + chunk(2, ' b'));
  await until(() => client.status.cursor === '2\t2\tm', 'cursor of chunk 2 stored');
  assert.equal(contentOf(await client.getChat('c')), 'Hi a b');
});

test('a gap is never papered over: the stream is dropped, a plain catch-up from the cursor runs, and the next stream starts without the chunks map', async (t) => {
  const { server, streams, chunk } = setup();
  const client = makeClient(server, 'u1', { autoStart: true });
  t.after(() => client.close());
  const seen = [];
  client.watchChat('c', (v) => v && seen.push(contentOf(v)));
  await until(() => streams.length === 1, 'stream');
  const one = chunk(1, ' a');
  streams[0].send(one);
  await until(() => seen.includes('Hi a'), 'chunk 1');
  chunk(2, ' b'); // lost on the way
  const three = chunk(3, ' c');
  const before = server.requests.length;
  streams[0].send(three);
  await until(() => streams.length === 2, 'a new stream after the gap');
  const between = server.requests.slice(before).filter((r) => !isStream(r) && r.path === '/api/sync');
  assert.equal(between.length, 1, 'one catch-up');
  assert.equal(between[0].query.get('cursor'), '2\t1\tm', 'from the stored cursor (chunk 1 had been applied)');
  assert.equal(streams[1].req.headers['Last-Event-ID'], '2', 'the plain delta cursor: the server resends from the document');
  assert.ok(!seen.some((s) => s.endsWith(' c') && !s.includes(' b')), 'chunk 3 never shown without chunk 2');
  // the server resends from the document's streamSeq (0): 1 is a duplicate, 2 and 3 apply
  const u = server.user('u1');
  streams[1].send(u.chunks.map((c) => server.chunkEvent(u, c)).join(''));
  await until(() => seen.includes('Hi a b c'), 'resumed');
  // (views may skip a step when chunks come faster than they run: never reorder one)
  for (let i = 1; i < seen.length; i++) assert.ok('Hi a b c'.startsWith(seen[i]) && seen[i].startsWith(seen[i - 1]), `grows in order: ${seen}`);
});

test('a reload mid-stream shows the text so far from the replica, then resumes from the last chunk\'s cursor', async () => {
  const { server, streams, chunk } = setup();
  const indexedDB = new IDBFactory();
  const first = makeClient(server, 'u1', { autoStart: true, indexedDB });
  await until(() => streams.length === 1, 'stream');
  streams[0].send(chunk(1, ' a') + chunk(2, ' b'));
  await until(async () => contentOf(await first.getChat('c')) === 'Hi a b', 'shown');
  await first.close(); // writes what it holds
  const offline = () => new TypeError('fetch failed');
  server.script.unshift(Object.assign(offline, { keep: true }));
  const second = makeClient(server, 'u1', { indexedDB, userId: 'u1' });
  assert.equal(contentOf(await second.getChat('c')), 'Hi a b', 'from the replica, offline');
  assert.equal(second.status.cursor ?? (await second.ready, second.status.cursor), '2\t2\tm');
  await second.close();
  server.script.splice(server.script.indexOf(offline), 1);
  const third = makeClient(server, 'u1', { indexedDB, autoStart: true });
  await until(() => streams.length === 2, 'stream again');
  assert.equal(streams[1].req.headers['Last-Event-ID'], '2\t2\tm', 'resumes after chunk 2');
  streams[1].send(chunk(3, ' c'));
  await until(async () => contentOf(await third.getChat('c')) === 'Hi a b c', 'continues');
  await third.close();
});

test('long-poll: a page of chunks grows the message and its cursor is the next request\'s', async (t) => {
  const { server, u } = setup();
  const polls = [];
  server.script.unshift(Object.assign((req) => {
    if (req.path !== '/api/sync' || req.query.get('live') !== '1') return undefined;
    polls.push(req);
    if (polls.length === 1) {
      u.chunks.push({ messageId: 'm', chatId: 'c', seq: 1, text: ' x' }, { messageId: 'm', chatId: 'c', seq: 2, text: ' y' });
      return new Response(JSON.stringify({ changes: [], chunks: u.chunks, cursor: '2\t2\tm', hasMore: false }), { headers: { 'content-type': 'application/json' } });
    }
    return new Promise((resolve) => req.signal.addEventListener('abort', () => resolve(new TypeError('aborted'))));
  }, { keep: true }));
  const client = makeClient(server, 'u1', { autoStart: true, live: 'poll', getToken: async () => token('u1') });
  t.after(() => client.close());
  await until(() => polls.length === 2, 'second poll');
  assert.equal(polls[1].query.get('cursor'), '2\t2\tm');
  assert.equal(contentOf(await client.getChat('c')), 'Hi x y');
});

test('a follower tab shows each chunk the leader receives', async (t) => {
  const { server, streams, chunk } = setup();
  const indexedDB = new IDBFactory();
  const leader = makeClient(server, 'u1', { indexedDB, BroadcastChannel, autoStart: true });
  t.after(() => leader.close());
  await until(() => leader.status.leader, 'leader');
  const follower = makeClient(server, 'u1', { indexedDB, BroadcastChannel, autoStart: true });
  t.after(() => follower.close());
  await follower.ready;
  const w = watcher();
  follower.watchChat('c', w.cb);
  await until(() => streams.length === 1, 'the leader\'s stream');
  streams[0].send(chunk(1, ' one'));
  await until(() => contentOf(w.value) === 'Hi one', 'follower sees chunk 1');
  streams[0].send(chunk(2, ' two'));
  await until(() => contentOf(w.value) === 'Hi one two', 'follower sees chunk 2');
  assert.equal(streams.length, 1, 'one stream for both tabs');
});
