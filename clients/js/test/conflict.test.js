// The 412 rule: the other device wins the fields it changed; our other fields
// are sent once more on the new version; any dropped field is reported.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorResponse, fakeServer, makeClient, until } from './helpers.js';

function seed(server) {
  const u = server.user('u1');
  server.write(u, 'chats', { id: 'c', userId: 'u1', title: 'orig', timestamp: 1, parentChatId: null, branchFromMessageId: null, branches: [], isDeleted: false });
  server.write(u, 'messages', { id: 'm', chatId: 'c', userId: 'u1', content: 'hello', role: 'user', timestamp: 1, position: 0, attachments: null, isDeleted: false });
  return u;
}

test('412 on the same field: the other device wins, our edit is dropped and reported', async (t) => {
  const server = fakeServer();
  const u = seed(server);
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  await client.sync();
  server.write(u, 'chats', { ...u.chats.get('c'), title: 'theirs' }); // another device, unseen yet
  const errors = [];
  client.on('error', (e) => errors.push(e));

  await assert.rejects(client.updateChat({ chatId: 'c', title: 'ours' }), (err) => {
    assert.equal(err.code, 'precondition_failed');
    assert.deepEqual(err.dropped, ['title']);
    assert.equal(err.doc.title, 'theirs');
    return true;
  });
  assert.equal(u.chats.get('c').title, 'theirs');
  assert.equal((await client.getChat('c')).title, 'theirs');
  assert.equal(errors.length, 1);
  const patches = server.writes().filter((r) => r.method === 'PATCH');
  assert.equal(patches.length, 1, 'nothing of ours left: nothing resent');
  assert.equal(patches[0].headers['If-Match'], '"1"');
});

test('412 on another field: ours is re-applied once with the new version, both edits stored', async (t) => {
  const server = fakeServer();
  const u = seed(server);
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  await client.sync();
  server.write(u, 'messages', { ...u.messages.get('m'), attachments: { kind: 'theirs' } }); // version 3

  const stored = await client.updateMessage({ messageId: 'm', content: 'edited here' });
  assert.equal(stored.content, 'edited here');
  assert.deepEqual(stored.attachments, { kind: 'theirs' });
  const patches = server.writes().filter((r) => r.method === 'PATCH');
  assert.deepEqual(patches.map((r) => r.headers['If-Match']), ['"2"', '"3"']);
  assert.deepEqual(patches[1].body, { content: 'edited here' });
  const view = await client.getChat('c');
  assert.equal(view.messages[0].content, 'edited here');
  assert.deepEqual(view.messages[0].attachments, { kind: 'theirs' });
});

test('two edits in a row of one device do not conflict with each other', async (t) => {
  const server = fakeServer();
  seed(server);
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  await client.sync();
  const a = client.updateChat({ chatId: 'c', title: 'first' });
  const b = client.updateChat({ chatId: 'c', title: 'second' });
  await Promise.all([a, b]);
  const patches = server.writes().filter((r) => r.method === 'PATCH');
  assert.deepEqual(patches.map((r) => r.headers['If-Match']), ['"1"', '"3"']);
  assert.equal(server.user('u1').chats.get('c').title, 'second');
  await until(async () => (await client.getChat('c')).title === 'second' && client.status.pending === 0, 'second title');
});

test('a lost PATCH answer: the resend gets 412 from our own write, and the call resolves with nothing reported', async (t) => {
  const server = fakeServer();
  const u = seed(server);
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  await client.sync();
  let lost = 0;
  // The server stores the edit, but its answer never arrives.
  server.script.push((req, s) => {
    if (req.method !== 'PATCH' || lost++) return undefined;
    s.write(u, 'chats', { ...u.chats.get('c'), ...req.body });
    return new TypeError('fetch failed');
  });
  const errors = [];
  client.on('error', (e) => errors.push(e));
  const stored = await client.updateChat({ chatId: 'c', title: 'ours' });
  assert.equal(stored.title, 'ours');
  const patches = server.writes().filter((r) => r.method === 'PATCH');
  assert.equal(patches.length, 2, 'sent, then resent once');
  assert.deepEqual(errors, []);
  assert.equal(u.chats.get('c').title, 'ours');
  await until(async () => (await client.getChat('c')).title === 'ours' && client.status.pending === 0, 'stored');
});

test('a second 412 carries the document as stored', async (t) => {
  const server = fakeServer();
  const u = seed(server);
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  await client.sync();
  // Another device changes the attachments before each of our sends.
  server.script.push(Object.assign((req, s) => {
    if (req.method === 'PATCH') s.write(u, 'messages', { ...u.messages.get('m'), attachments: { n: u.version } });
    return undefined;
  }, { keep: true }));
  await assert.rejects(client.updateMessage({ messageId: 'm', content: 'mine' }), (err) => {
    assert.equal(err.code, 'precondition_failed');
    assert.deepEqual(err.dropped, ['content']);
    assert.equal(err.doc.content, 'hello');
    return true;
  });
  assert.equal(server.writes().filter((r) => r.method === 'PATCH').length, 2);
});

// Review F1: an edit queued behind one whose field the other device won was
// made on our losing value; moved onto the new version it would overwrite theirs.
test('a queued edit made on a field a 412 dropped is not moved onto the new version: the other device keeps it', async (t) => {
  const server = fakeServer();
  const u = seed(server);
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  await client.sync();
  server.write(u, 'messages', { ...u.messages.get('m'), content: 'THEIRS' }); // v3, not seen
  const first = client.updateMessage({ messageId: 'm', content: 'A', attachments: { a: 1 } });
  const second = client.updateMessage({ messageId: 'm', content: 'B' });
  await assert.rejects(first, (e) => e.code === 'precondition_failed' && e.dropped.join() === 'content');
  await assert.rejects(second, (e) => e.code === 'precondition_failed' && e.dropped.join() === 'content');
  assert.equal(u.messages.get('m').content, 'THEIRS');
  assert.deepEqual(u.messages.get('m').attachments, { a: 1 }, 'the field nobody else changed is ours');
});

// Review F1, the other path: our PATCH stored, its answer lost, then the other
// device edits another field; the 412's "already applied" acknowledges with
// that document, which the next queued edit never saw.
test('after a 412 that finds our edit applied, a queued edit of a field another device changed since is dropped, not sent over it', async (t) => {
  const server = fakeServer();
  const u = seed(server);
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  await client.sync();
  let n = 0;
  server.script.push(async (req, s) => {
    if (req.method !== 'PATCH' || n++) return undefined;
    s.write(u, 'messages', { ...u.messages.get('m'), ...req.body });
    s.write(u, 'messages', { ...u.messages.get('m'), attachments: { theirs: true } });
    return new TypeError('fetch failed');
  });
  const first = client.updateMessage({ messageId: 'm', content: 'A' });
  const second = client.updateMessage({ messageId: 'm', attachments: { ours: true } });
  assert.equal((await first).content, 'A');
  await assert.rejects(second, (e) => e.code === 'precondition_failed' && e.dropped.join() === 'attachments');
  assert.deepEqual(u.messages.get('m').attachments, { theirs: true });
  assert.ok(!server.writes().some((r) => r.headers['If-Match'] === '"4"'), 'never sent on the version holding their edit');
});

// Review F5: the catch-up after a 412 may be read from a lagging Postgres
// replica; it asks for the version the 412 named, and a read still older
// does not run the rule (which would keep every field, and drop all on the next 412).
test('the catch-up after a 412 asks for the version the 412 named; a read older than it is retried, not judged', async (t) => {
  const server = fakeServer();
  const u = seed(server);
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  await client.sync();
  server.write(u, 'messages', { ...u.messages.get('m'), content: 'THEIRS' }); // v3
  let lagging = 1;
  server.script.push(Object.assign((req) => {
    // a replica that has not reached v3 yet, once: an empty page
    if (req.path === '/api/sync' && lagging > 0 && req.query.get('minVersion')) return lagging--, new Response(JSON.stringify({ changes: [], cursor: '2', hasMore: false }), { headers: { 'content-type': 'application/json' } });
    return undefined;
  }, { keep: true }));
  await assert.rejects(client.updateMessage({ messageId: 'm', content: 'mine', attachments: { a: 1 } }), (e) => e.code === 'precondition_failed' && e.dropped.join() === 'content');
  const asked = server.requests.filter((r) => r.path === '/api/sync' && r.query.get('minVersion'));
  assert.ok(asked.length >= 2 && asked.every((r) => r.query.get('minVersion') === '3'), 'each catch-up after the 412 asked for minVersion=3');
  assert.equal(u.messages.get('m').content, 'THEIRS');
  assert.deepEqual(u.messages.get('m').attachments, { a: 1 }, 'kept: the rule ran on the real document');
});

// Review nit: a catch-up refused (a 4xx of the feed, not of the write) is not
// the server refusing the update.
test('a 4xx of the catch-up after a 412 retries the update rather than dropping it', async (t) => {
  const server = fakeServer();
  const u = seed(server);
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  await client.sync();
  server.write(u, 'messages', { ...u.messages.get('m'), attachments: { theirs: 1 } }); // v3
  let refused = false;
  server.script.push((req) => req.path === '/api/sync' && !refused && (refused = true) && errorResponse(400, 'bad_request', 'cursor: malformed'));
  const value = await client.updateMessage({ messageId: 'm', content: 'mine' });
  assert.ok(refused);
  assert.equal(value.content, 'mine');
  assert.equal(u.messages.get('m').content, 'mine');
});
